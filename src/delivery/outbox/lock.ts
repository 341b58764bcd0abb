// One process per outbox. Two gateways delivering from one OUTBOX_DIR would each upload the
// same queued documents (exactly once needs one owner), so open() takes OUTBOX_DIR/lock, a
// file created exclusively that names its holder, and close() removes it. A holder that died
// without removing it (SIGKILL, OOM, a lost node) is recognised: on this host, its pid is gone
// (or is ours: a container restarted as pid 1 again); on another host (a volume shared by
// mistake, or a pod rescheduled under a new name), its heartbeat, the file's mtime touched
// every few seconds, has stopped.
import { randomUUID } from 'node:crypto'
import { mkdir, open, readFile, stat, unlink, utimes } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { isProcessAlive } from '../process-alive.js'

export interface LockHolder {
  pid: number
  host: string
  token: string
  since: string
}

export interface LockOptions {
  /** How often the holder touches the lock (10 s). */
  heartbeatMs?: number
  /** A lock of another host untouched this long is stale (60 s). */
  staleMs?: number
}

/** OUTBOX_DIR is held by another live gateway. */
export class OutboxLockedError extends Error {
  constructor (readonly holder: LockHolder | undefined) {
    super(`OUTBOX_DIR is in use by ${holder === undefined ? 'another process' : `process ${holder.pid} on ${holder.host} (since ${holder.since})`}: each gateway needs an outbox directory of its own`)
    this.name = 'OutboxLockedError'
  }
}

/** Tokens of the locks this process holds: our own pid in a lock is live only if it is one of these. */
const held = new Set<string>()

export class OutboxLock {
  private readonly heartbeat: NodeJS.Timeout

  private constructor (private readonly path: string, readonly holder: LockHolder, heartbeatMs: number) {
    held.add(holder.token)
    this.heartbeat = setInterval(() => {
      const now = new Date()
      utimes(path, now, now).catch(() => {})
    }, heartbeatMs)
    this.heartbeat.unref()
  }

  /** Takes the lock of dir (created if missing); waits out another host's lock until it is stale; throws OutboxLockedError. */
  static async acquire (dir: string, logger: Logger, opts: LockOptions = {}): Promise<OutboxLock> {
    const heartbeatMs = opts.heartbeatMs ?? 10_000
    const staleMs = opts.staleMs ?? 60_000
    const path = join(dir, 'lock')
    await mkdir(dir, { recursive: true, mode: 0o700 })
    const deadline = Date.now() + staleMs + heartbeatMs
    let waiting = false
    for (;;) {
      const holder: LockHolder = { pid: process.pid, host: hostname(), token: randomUUID(), since: new Date().toISOString() }
      if (await create(path, holder)) return new OutboxLock(path, holder, heartbeatMs)
      const found = await readHolder(path)
      if (found === 'gone') continue
      const verdict = await judge(path, found, staleMs)
      if (verdict === 'stale') {
        logger.warn({ event: 'outbox.lock', holder: found === 'torn' ? undefined : { pid: found.pid, host: found.host, since: found.since } }, 'outbox lock left by a process that is gone: taken over')
        await unlink(path).catch(() => {})
        continue
      }
      const holderOf = found === 'torn' ? undefined : found
      if (verdict === 'live' || Date.now() > deadline) throw new OutboxLockedError(holderOf)
      if (!waiting) logger.warn({ event: 'outbox.lock', holder: holderOf === undefined ? undefined : { pid: holderOf.pid, host: holderOf.host, since: holderOf.since } }, 'outbox held by a process on another host: waiting for it to let go or stop its heartbeat')
      waiting = true
      await new Promise(resolve => setTimeout(resolve, Math.min(1000, heartbeatMs)))
    }
  }

  /** Removes the lock, if it is still ours. */
  async release (): Promise<void> {
    clearInterval(this.heartbeat)
    held.delete(this.holder.token)
    const found = await readHolder(this.path)
    if (typeof found === 'object' && found.token === this.holder.token) await unlink(this.path).catch(() => {})
  }
}

async function create (path: string, holder: LockHolder): Promise<boolean> {
  let file
  try {
    file = await open(path, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
  try {
    await file.writeFile(JSON.stringify(holder))
    await file.sync()
  } finally {
    await file.close()
  }
  return true
}

async function readHolder (path: string): Promise<LockHolder | 'torn' | 'gone'> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone'
    throw err
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder>
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string' && typeof parsed.token === 'string') return { pid: parsed.pid, host: parsed.host, token: parsed.token, since: String(parsed.since) }
  } catch {}
  return 'torn'
}

/** live: a process on this host holds it; stale: its holder is gone; unknown: another host's, still beating. */
async function judge (path: string, found: LockHolder | 'torn', staleMs: number): Promise<'live' | 'stale' | 'unknown'> {
  if (found !== 'torn' && found.host === hostname()) {
    if (found.pid === process.pid) return held.has(found.token) ? 'live' : 'stale'
    return isProcessAlive(found.pid) ? 'live' : 'stale'
  }
  // Torn (its writer died between create and write) or another host's: judged by the heartbeat.
  const mtime = await stat(path).then(s => s.mtimeMs, () => 0)
  return Date.now() - mtime > staleMs ? 'stale' : 'unknown'
}
