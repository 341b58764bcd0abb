// The Redis the keyed workload runs against: Debian's redis-server (REDIS_SERVER to use
// another binary, e.g. valkey-server), started by the bench on a free loopback port in its
// own directory, configured as the README asks of a production instance: the append-only
// file on (fsync every second), maxmemory-policy noeviction. Stopped with the other processes.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { sleep } from './lib.js'

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'

export interface BenchRedis {
  url: string
  pid: number
  /** `redis-server --version`'s first words. */
  version: string
  /** The settings the instance runs with, for the report. */
  note: string
  stop: () => Promise<void>
}

async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

async function answersPing (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
    socket.setTimeout(1000, () => { done(false) })
    socket.on('error', () => { done(false) })
    socket.on('connect', () => { socket.write('PING\r\n') })
    socket.on('data', d => { data += d.toString(); if (data.includes('\r\n')) done(data.startsWith('+PONG')) })
  })
}

async function version (): Promise<string> {
  const child = spawn(REDIS_SERVER, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  await once(child, 'exit')
  return /^(\S+ server v=\S+)/.exec(out.trim())?.[1] ?? out.trim().split(' ').slice(0, 3).join(' ')
}

/** undefined when there is no redis-server to run (the keyed workload is then skipped with a note). */
export async function startRedis (dir: string): Promise<BenchRedis | undefined> {
  if (!existsSync(REDIS_SERVER)) return undefined
  mkdirSync(dir, { recursive: true })
  const port = await freePort()
  const settings = ['--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction']
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', '--logfile', '', ...settings], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { if (stderr.length < 20_000) stderr += d.toString() })
  let exited = false
  const exit = once(child, 'exit').then(() => { exited = true })
  for (let i = 0; !await answersPing(port); i++) {
    if (exited || i > 200) { child.kill('SIGKILL'); throw new Error(`redis-server did not start: ${stderr}`) }
    await sleep(25)
  }
  return {
    url: `redis://127.0.0.1:${port}/0`,
    pid: child.pid!,
    version: await version(),
    note: 'appendonly yes, appendfsync everysec, maxmemory-policy noeviction, loopback TCP, no password',
    async stop () {
      if (exited) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exit
      clearTimeout(timer)
    }
  }
}
