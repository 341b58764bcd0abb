// A real gateway in front of a real CIC simulator, both on port 0, for one test.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { loadConfig, type Config } from '../../src/config/index.js'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { createLogger } from '../../src/observability/logger.js'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js'
import { recordLog } from './log-scan.js'

export interface Stack {
  sim: Simulator
  /** The gateway: a Fastify instance with its plugins' decorations (spool, uploads, metrics, ...). */
  gateway: FastifyInstance
  config: Config
  /** http://127.0.0.1:PORT of the gateway */
  url: string
  /** The gateway's own spool directory (SPOOL_DIR/<host>-<pid>). */
  spoolDir: string
  /** Every log line the gateway wrote, parsed. */
  logs: () => Array<Record<string, unknown>>
  spoolFiles: () => Promise<string[]>
}

interface Teardown {
  teardown: (fn: () => unknown) => void
  fullname?: string
}

export interface StackOptions {
  env?: Record<string, string>
  sim?: SimulatorOptions
  /** Extra strings that must never appear in a log line (besides every configured secret and every token CIC issued). */
  secrets?: string[]
  /**
   * Contents of a GATEWAY_CONFIG_FILE (YAML or JSON), given the simulator's URL; then the
   * CIC_* variables are not set. The file's passwords and keys are scanned for like any secret.
   */
  configFile?: (simUrl: string) => string
}

export async function startStack (t: Teardown, opts: StackOptions = {}): Promise<Stack> {
  const sim = await startSimulator({ keepBodies: true, ...opts.sim })
  const spoolDir = await mkdtemp(join(tmpdir(), 'cic-gateway-test-'))
  let config: Config
  let configDir: string | undefined
  const removeConfig = async (): Promise<void> => { if (configDir !== undefined) await rm(configDir, { recursive: true, force: true }) }
  try {
    let mailboxEnv: Record<string, string> = { CIC_BASE_URL: sim.url, CIC_USERNAME: DEMO_USERNAME, CIC_PASSWORD: DEMO_PASSWORD }
    if (opts.configFile !== undefined) {
      configDir = await mkdtemp(join(tmpdir(), 'cic-gateway-config-'))
      const file = join(configDir, 'gateway.yaml')
      await writeFile(file, opts.configFile(sim.url))
      mailboxEnv = { GATEWAY_CONFIG_FILE: file }
    }
    config = loadConfig({ ...mailboxEnv, SPOOL_DIR: spoolDir, LOG_LEVEL: 'debug', ...opts.env })
  } catch (err) {
    await sim.close()
    await rm(spoolDir, { recursive: true, force: true })
    await removeConfig()
    throw err
  }
  const lines: string[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(chunk.toString('utf8')); cb() } })
  const gateway = await buildApp(config, createLogger(config.logLevel, sink))
  await gateway.listen({ host: '127.0.0.1', port: 0 })
  const address = gateway.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')

  t.teardown(async () => {
    await gateway.close()
    // Secrets never reach a log: every configured password and key, and every bearer token CIC handed out.
    const secrets = new Set([...config.secrets, ...(opts.secrets ?? [])])
    for (const r of sim.requests) {
      const auth = r.headers.authorization
      if (typeof auth === 'string' && auth.startsWith('Bearer ')) secrets.add(auth.slice(7))
    }
    await sim.close()
    await rm(spoolDir, { recursive: true, force: true })
    await removeConfig()
    const text = lines.join('')
    // Kept for the suite-wide scan (test/helpers/log-scan-after.ts).
    recordLog(t.fullname ?? 'unnamed test', secrets, text)
    for (const s of secrets) {
      if (s.length > 0 && text.includes(s)) throw new Error(`a secret reached the gateway log: ${s.slice(0, 4)}...`)
    }
  })

  return {
    sim,
    gateway,
    config,
    url: `http://127.0.0.1:${address.port}`,
    spoolDir: gateway.spool.dir,
    logs: () => lines.join('').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, unknown>),
    // After close the process's spool directory is gone, and with it every file.
    spoolFiles: async () => await readdir(gateway.spool.dir).catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return []; throw err })
  }
}
