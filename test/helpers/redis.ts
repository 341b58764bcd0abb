// A real redis-server (Debian's package, installed by .ci/run) for one test: a free
// loopback port, its own temporary directory, stopped and removed in t.teardown.
// stop() / start() / restart() keep the port, for outage tests; pause() / resume() stop
// the process without closing its sockets (a Redis that is slow, not gone).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect, createServer, type Socket } from 'node:net'
import { connect as connectTls } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'

export interface RedisServer {
  port: number
  /** redis://127.0.0.1:PORT, rediss://localhost:PORT with TLS (no password in it). */
  url: string
  password: string | undefined
  dir: string
  /** Everything redis-server printed (for a failing test's message). */
  output: () => string
  stop: () => Promise<void>
  start: () => Promise<void>
  restart: () => Promise<void>
  pause: () => void
  resume: () => void
}

interface Teardown {
  teardown: (fn: () => unknown) => void
}

export interface RedisServerOptions {
  /** Started with --requirepass. */
  password?: string
  /** More redis-server arguments, e.g. ['--maxmemory', '2mb']. */
  args?: string[]
  /** TLS only (rediss://): the server's certificate and key (PEM files), no plaintext port. */
  tls?: { certFile: string, keyFile: string }
}

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  server.close()
  await once(server, 'close')
  return address.port
}

/** One PING over a raw socket: true once Redis answers (PONG, or NOAUTH when a password is set). */
async function answersPing (port: number, tls: boolean): Promise<boolean> {
  return await new Promise(resolve => {
    // The helper only asks whether the server is up: its certificate is the test's business.
    const socket: Socket = tls ? connectTls({ port, host: '127.0.0.1', rejectUnauthorized: false }) : connect(port, '127.0.0.1')
    let data = ''
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
    socket.setTimeout(1000, () => { done(false) })
    socket.on('error', () => { done(false) })
    socket.on(tls ? 'secureConnect' : 'connect', () => { socket.write('PING\r\n') })
    socket.on('data', d => {
      data += d.toString()
      if (data.includes('\r\n')) done(data.startsWith('+PONG') || data.startsWith('-NOAUTH'))
    })
  })
}

export async function startRedis (t: Teardown, opts: RedisServerOptions = {}): Promise<RedisServer> {
  if (!existsSync(REDIS_SERVER)) {
    throw new Error(`${REDIS_SERVER} is missing: these tests need a real Redis. Install Debian's package: apt-get install -y redis-server (.ci/run does)`)
  }
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'cic-gateway-redis-'))
  const args = [
    ...(opts.tls === undefined
      ? ['--port', String(port)]
      : ['--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.certFile, '--tls-key-file', opts.tls.keyFile, '--tls-auth-clients', 'no']),
    '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--logfile', '',
    ...(opts.password !== undefined ? ['--requirepass', opts.password] : []),
    ...(opts.args ?? [])
  ]
  let child: ChildProcess | undefined
  let exited: Promise<unknown> = Promise.resolve()
  let output = ''

  const start = async (): Promise<void> => {
    if (child !== undefined) throw new Error('redis-server is already running')
    const c = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    child = c
    c.stdout!.on('data', (d: Buffer) => { output += d.toString() })
    c.stderr!.on('data', (d: Buffer) => { output += d.toString() })
    exited = once(c, 'exit')
    let gone = false
    void exited.then(() => { gone = true; if (child === c) child = undefined })
    for (let i = 0; i < 200; i++) {
      if (gone) throw new Error(`redis-server exited at start:\n${output}`)
      if (await answersPing(port, opts.tls !== undefined)) return
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    throw new Error(`redis-server did not answer PING on port ${port}:\n${output}`)
  }

  const stop = async (): Promise<void> => {
    const c = child
    if (c === undefined) return
    c.kill('SIGCONT')
    c.kill('SIGTERM')
    await exited
    child = undefined
  }

  await start()
  t.teardown(async () => {
    await stop()
    await rm(dir, { recursive: true, force: true })
  })

  return {
    port,
    url: opts.tls === undefined ? `redis://127.0.0.1:${port}` : `rediss://localhost:${port}`,
    password: opts.password,
    dir,
    output: () => output,
    stop,
    start,
    restart: async () => { await stop(); await start() },
    pause: () => { child?.kill('SIGSTOP') },
    resume: () => { child?.kill('SIGCONT') }
  }
}
