// A real gateway in front of a real CIC simulator, both on port 0, for one test.
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { loadConfig, type Config } from '../../src/config.js'
import { createGateway, type Gateway } from '../../src/gateway.js'
import { createLogger } from '../../src/logger.js'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js'

export interface Stack {
  sim: Simulator
  gateway: Gateway
  config: Config
  /** http://127.0.0.1:PORT of the gateway */
  url: string
  spoolDir: string
  /** Every log line the gateway wrote, parsed. */
  logs: () => Array<Record<string, unknown>>
  spoolFiles: () => Promise<string[]>
}

interface Teardown {
  teardown: (fn: () => unknown) => void
}

export interface StackOptions {
  env?: Record<string, string>
  sim?: SimulatorOptions
  /** Extra strings that must never appear in a log line (besides the password and every token CIC issued). */
  secrets?: string[]
}

export async function startStack (t: Teardown, opts: StackOptions = {}): Promise<Stack> {
  const sim = await startSimulator({ keepBodies: true, ...opts.sim })
  const spoolDir = await mkdtemp(join(tmpdir(), 'cic-gateway-test-'))
  let config: Config
  try {
    config = loadConfig({
    CIC_BASE_URL: sim.url,
    CIC_USERNAME: DEMO_USERNAME,
    CIC_PASSWORD: DEMO_PASSWORD,
    SPOOL_DIR: spoolDir,
    LOG_LEVEL: 'debug',
    ...opts.env
    })
  } catch (err) {
    await sim.close()
    throw err
  }
  const lines: string[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(chunk.toString('utf8')); cb() } })
  const gateway = await createGateway(config, createLogger(config.logLevel, sink))
  await gateway.app.listen({ host: '127.0.0.1', port: 0 })
  const address = gateway.app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')

  t.teardown(async () => {
    await gateway.close()
    // Secrets never reach a log: the password, and every bearer token CIC handed out.
    const secrets = new Set([config.mailboxes[0]?.password ?? DEMO_PASSWORD, ...(opts.secrets ?? [])])
    for (const r of sim.requests) {
      const auth = r.headers.authorization
      if (typeof auth === 'string' && auth.startsWith('Bearer ')) secrets.add(auth.slice(7))
    }
    await sim.close()
    await rm(spoolDir, { recursive: true, force: true })
    const text = lines.join('')
    for (const s of secrets) {
      if (s.length > 0 && text.includes(s)) throw new Error(`a secret reached the gateway log: ${s.slice(0, 4)}...`)
    }
  })

  return {
    sim,
    gateway,
    config,
    url: `http://127.0.0.1:${address.port}`,
    spoolDir,
    logs: () => lines.join('').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, unknown>),
    spoolFiles: async () => await readdir(spoolDir)
  }
}
