// One Redis connection for the state several replicas share: Idempotency-Key records
// (delivery/idempotency-redis.ts), CIC login tokens (cic/token-store-redis.ts) and delivery
// status records (delivery/outbox/status-redis.ts, with a subscriber connection for the
// retry relay); redis/index.ts puts them together.
// It fails closed and fast: no offline queue (a command while disconnected fails at once),
// a short command timeout (a slow or paused Redis), nothing resent after a reconnect; and it
// reconnects forever with backoff, so when Redis returns the gateway works again unrestarted.
// Nothing it logs or throws holds the URL's password, the password, or a command's arguments
// (ioredis puts AUTH's arguments on its errors as `err.command.args`).
import { isIP } from 'node:net'
import { rootCertificates } from 'node:tls'
import { Redis, type RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import { parseRedisUrl } from '../config/redis.js'

/** What the config hands over when REDIS_URL is set. */
export interface RedisConnectionOptions {
  /** redis://[user@]host[:port][/db] or rediss:// (TLS, always verified). */
  url: string
  /** REDIS_PASSWORD(_FILE); a password in the URL is used when this is unset. */
  password?: string
  /** PEM text of an extra CA for rediss://, added to Node's roots. */
  ca?: string
  /** Prefix of every key written, e.g. 'cic-gateway:'. */
  keyPrefix: string
  /** Longest wait for one command before the call fails (a slow or paused Redis). */
  commandTimeoutMs?: number
  /** Longest wait for a TCP (and TLS) connection. */
  connectTimeoutMs?: number
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 1000
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000
/** Longest pause between reconnection attempts (they never stop). */
export const MAX_RECONNECT_DELAY_MS = 2000

/**
 * A Redis call failed (unreachable, timed out, refused: OOM, NOAUTH, READONLY...). For a
 * keyed request that means 503 `idempotency-store-unavailable`, safe to resend. `reason` is
 * scrubbed and safe to log; no cause is attached on purpose (ioredis's errors can hold AUTH's
 * arguments).
 */
export class RedisUnavailableError extends Error {
  readonly code = 'redis-unavailable'

  constructor (readonly reason: string) {
    super(`Redis unavailable: ${reason}`)
    this.name = 'RedisUnavailableError'
  }
}

/** Replaces every secret (and any `//user:password@` userinfo) in a text by [redacted]. */
export function scrubber (secrets: Array<string | undefined>): (text: string) => string {
  const list = [...new Set(secrets.filter((s): s is string => s !== undefined && s !== ''))]
    // Longest first: a URL that contains the password is replaced whole.
    .sort((a, b) => b.length - a.length)
  return text => {
    let out = text
    for (const s of list) out = out.split(s).join('[redacted]')
    return out.replace(/(\/\/[^/\s:@]*:)[^@\s/]*@/g, '$1[redacted]@')
  }
}

/** What failed, in a few words, from an ioredis or socket error. Never its properties. */
function reasonOf (err: unknown, scrub: (text: string) => string): string {
  if (!(err instanceof Error)) return 'unknown error'
  const message = err.message
  if (message === 'Command timed out') return 'command timed out'
  if (message.startsWith("Stream isn't writeable")) return 'not connected'
  if (message === 'Connection is closed.' || err.name === 'AbortError') return 'connection lost'
  if (err.name === 'MaxRetriesPerRequestError') return 'connection lost'
  const code = (err as NodeJS.ErrnoException).code
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code
  // A Redis error reply (OOM, NOAUTH, WRONGPASS, READONLY, ...): its text, scrubbed, bounded.
  return scrub(message).slice(0, 200)
}

export class RedisConnection {
  readonly client: Redis
  readonly keyPrefix: string
  readonly scrub: (text: string) => string
  private up: boolean | undefined
  private lastReason = 'connection closed'
  private closing = false
  private readonly listeners = new Set<(up: boolean) => void>()
  private readonly subscribers = new Set<Redis>()

  constructor (opts: RedisConnectionOptions, private readonly logger?: Logger) {
    const url = parseRedisUrl(opts.url)
    const password = opts.password ?? url.password
    this.keyPrefix = opts.keyPrefix
    this.scrub = scrubber([opts.url, password, url.password, password !== undefined ? encodeURIComponent(password) : undefined])
    const options: RedisOptions = {
      host: url.host,
      port: url.port,
      db: url.db,
      family: 0,
      ...(url.username !== undefined ? { username: url.username } : {}),
      ...(password !== undefined ? { password } : {}),
      ...(url.tls
        ? {
            tls: {
              rejectUnauthorized: true,
              ...(isIP(url.host) === 0 ? { servername: url.host } : {}),
              ...(opts.ca !== undefined ? { ca: [...rootCertificates, opts.ca] } : {})
            }
          }
        : {}),
      connectTimeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      commandTimeout: opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      // Fail closed and fast: a command while disconnected is refused at once, a command cut
      // off by a lost connection fails at once, and nothing is resent later on its own (a
      // claim the caller already saw fail must not run after its 503).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // Reconnect forever: 100 ms, 200 ms, ... up to MAX_RECONNECT_DELAY_MS, with jitter.
      retryStrategy: (times: number) => Math.round(Math.min(MAX_RECONNECT_DELAY_MS, 100 * 2 ** Math.min(times - 1, 10)) * (0.5 + Math.random() / 2)),
      // After a failover the old primary answers READONLY: reconnect (DNS may now name the new one).
      reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
      lazyConnect: false
    }
    this.client = new Redis(options)
    // Every 'error' event is kept (scrubbed) for the next transition's log line; without a
    // listener ioredis would print it to the console.
    this.client.on('error', (err: unknown) => { this.lastReason = reasonOf(err, this.scrub) })
    this.client.on('ready', () => { this.setUp(true) })
    this.client.on('close', () => { if (!this.closing) this.setUp(false, this.lastReason) })
  }

  /** True while Redis answers. Undefined state (not yet connected) reads as down. */
  get isUp (): boolean {
    return this.up === true
  }

  /** Told on each transition (up -> down, down -> up), for a gauge. Returns an unsubscribe. */
  onStateChange (listener: (up: boolean) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** Resolves true once connected, false after `timeoutMs` (the gateway starts either way). */
  async ready (timeoutMs: number): Promise<boolean> {
    if (this.client.status === 'ready') return true
    return await new Promise<boolean>(resolve => {
      const done = (ok: boolean): void => { clearTimeout(timer); this.client.off('ready', onReady); resolve(ok) }
      const onReady = (): void => { done(true) }
      const timer = setTimeout(() => { done(false) }, timeoutMs)
      this.client.once('ready', onReady)
    })
  }

  /** Runs one Redis call; any failure becomes a RedisUnavailableError with a scrubbed reason. */
  async call<T> (fn: (client: Redis) => Promise<T>): Promise<T> {
    let result: T
    try {
      result = await fn(this.client)
    } catch (err) {
      const reason = reasonOf(err, this.scrub)
      // A paused or overloaded Redis keeps the connection but stops answering: that is down too.
      if (reason === 'command timed out') this.setUp(false, reason)
      throw new RedisUnavailableError(reason)
    }
    this.setUp(true)
    return result
  }

  /**
   * A second connection for SUBSCRIBE (a subscribed connection runs no other command): the
   * same server, credentials, TLS and reconnection; it resubscribes nothing on its own (its
   * user subscribes at each 'ready'); its errors stay off the console; closed with this one.
   */
  subscriber (): Redis {
    const sub = this.client.duplicate({ autoResubscribe: false })
    sub.on('error', () => {})
    this.subscribers.add(sub)
    return sub
  }

  async close (): Promise<void> {
    if (this.closing) return
    this.closing = true
    this.listeners.clear()
    for (const sub of this.subscribers) sub.disconnect()
    try {
      await this.client.quit()
    } catch {
      this.client.disconnect()
    }
  }

  private setUp (up: boolean, reason?: string): void {
    if (this.up === up) return
    // The first state known is only logged when it is bad news.
    const first = this.up === undefined
    this.up = up
    if (up) {
      if (!first) this.logger?.info({ event: 'redis.state', up: true }, 'Redis available again: keyed requests are served')
    } else {
      this.logger?.warn({ event: 'redis.state', up: false, reason }, 'Redis unavailable: keyed requests answer 503 until it returns')
    }
    for (const listener of this.listeners) listener(up)
  }
}
