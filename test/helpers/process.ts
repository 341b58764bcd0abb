// Runs the built gateway (dist/main.js) as a real process, as `npm start` and the container do.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { DEMO_PASSWORD } from '../../src/simulator/index.js'
import { recordLog } from './log-scan.js'

export const MAIN = fileURLToPath(new URL('../../dist/main.js', import.meta.url))

export interface GatewayProcess {
  child: ChildProcess
  url: string
  lines: Array<Record<string, unknown>>
  stderr: () => string
  exited: Promise<number | null>
}

export async function spawnGateway (env: Record<string, string>, timeoutMs = 20_000, extraSecrets?: string[]): Promise<GatewayProcess> {
  // A spool directory of its own, removed when the process is gone (test/spool-dir.test.ts covers a shared one).
  const spoolDir = env.SPOOL_DIR ?? mkdtempSync(join(tmpdir(), 'cic-gateway-spool-'))
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', SPOOL_DIR: spoolDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const lines: Array<Record<string, unknown>> = []
  let stderr = ''
  let stdout = ''
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString() })
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString() })
  // Whatever the process printed goes to the suite-wide secret scan, with the secrets it was given.
  const secrets = [DEMO_PASSWORD, env.CIC_PASSWORD, ...(env.GATEWAY_API_KEYS ?? '').split(','), ...(extraSecrets ?? [])].filter((s): s is string => s !== undefined && s !== '')
  const exited = once(child, 'exit').then(([code]) => {
    if (env.SPOOL_DIR === undefined) rmSync(spoolDir, { recursive: true, force: true })
    recordLog(`process ${Object.keys(env).join(',')}`, secrets, stdout + stderr)
    return code as number | null
  })
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`gateway did not start: ${stderr}`)) }, timeoutMs)
    createInterface({ input: child.stdout! }).on('line', line => {
      let parsed: Record<string, unknown>
      try { parsed = JSON.parse(line) as Record<string, unknown> } catch { return }
      lines.push(parsed)
      if (parsed.event === 'start') { clearTimeout(timer); resolve(String(parsed.address)) }
    })
    void exited.then(code => { clearTimeout(timer); reject(new Error(`gateway exited with ${code}: ${stderr}`)) })
  })
  return { child, url, lines, stderr: () => stderr, exited }
}
