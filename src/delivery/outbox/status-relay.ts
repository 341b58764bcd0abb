// POST /deliveries/{id}/retry on a replica that does not hold the delivery: the body is on
// the owner's volume, so only the owner can put it back in its queue. The request goes to
// the owner over Redis pub/sub (`<prefix>dlv-retry:<owner id>`, which each replica
// subscribes to on a connection of its own), and the owner answers on the requester's
// channel (`<prefix>dlv-reply:<its id>`). No subscriber (the owner is stopped) or no answer
// within waitMs: DeliveryOwnerUnavailableError, and nothing was changed that the caller
// cannot see (a late requeue shows in the delivery's status).
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { RedisUnavailableError, type RedisConnection } from '../../redis/connection.js'
import { DeliveryOwnerUnavailableError, StatusStoreUnavailableError, type ReplicaOwner } from './status-store.js'
import { OutboxStorageError, type DeliveryStatus } from './types.js'

export interface RetryRelayOptions {
  connection: RedisConnection
  self: ReplicaOwner
  /** Puts a failed delivery this replica holds back in its queue (Outbox.retry). */
  retry: (id: string, caller: string) => Promise<DeliveryStatus | undefined>
  logger: Logger
  /** How long a requester waits for the owner's answer; default 5000. */
  waitMs?: number
}

interface Request {
  t: string
  id: string
  caller: string
  from: string
}

type Answer =
  | { outcome: 'status', status: DeliveryStatus }
  | { outcome: 'unknown' }
  | { outcome: 'storage-error', code: string }
  | { outcome: 'timeout' }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export class RetryRelay {
  private sub: Redis | undefined
  private subscribed = false
  private readonly pending = new Map<string, (answer: Answer) => void>()
  private readonly waitMs: number

  constructor (private readonly opts: RetryRelayOptions) {
    this.waitMs = opts.waitMs ?? 5000
  }

  /** Subscribes (again at each reconnection) to this replica's requests and answers. */
  start (): void {
    const sub = this.opts.connection.subscriber()
    this.sub = sub
    const channels = [this.requests(this.opts.self.id), this.replies(this.opts.self.id)]
    sub.on('ready', () => {
      sub.subscribe(...channels).then(() => { this.subscribed = true }, () => { this.subscribed = false })
    })
    sub.on('close', () => { this.subscribed = false })
    sub.on('message', (channel: string, message: string) => {
      if (channel === channels[0]) void this.serve(message)
      else this.answered(message)
    })
  }

  /**
   * Asks the owner to retry the delivery; resolves with its status afterwards (unchanged when
   * it was not failed), undefined when the owner does not hold it for this caller.
   */
  async retry (owner: string, id: string, caller: string): Promise<DeliveryStatus | undefined> {
    // Without our own subscription the answer would be lost.
    if (!this.subscribed) throw new StatusStoreUnavailableError('not subscribed')
    const t = randomUUID()
    const answer = new Promise<Answer>(resolve => { this.pending.set(t, resolve) })
    const timer = setTimeout(() => { this.pending.get(t)?.({ outcome: 'timeout' }) }, this.waitMs)
    try {
      const request: Request = { t, id, caller, from: this.opts.self.id }
      const receivers = await this.publish(this.requests(owner), request)
      if (receivers === 0) throw new DeliveryOwnerUnavailableError(owner, 'not running')
      const a = await answer
      switch (a.outcome) {
        case 'timeout': throw new DeliveryOwnerUnavailableError(owner, `no answer within ${this.waitMs} ms`)
        case 'storage-error': throw new OutboxStorageError(a.code, undefined)
        case 'unknown': return undefined
        default: return a.status
      }
    } finally {
      clearTimeout(timer)
      this.pending.delete(t)
    }
  }

  close (): void {
    this.sub?.disconnect()
    for (const resolve of this.pending.values()) resolve({ outcome: 'timeout' })
  }

  /** The owner's side: retry it here, answer on the requester's channel. */
  private async serve (message: string): Promise<void> {
    const request = parseRequest(message)
    if (request === undefined) return
    let answer: Answer
    try {
      const status = await this.opts.retry(request.id, request.caller)
      answer = status === undefined ? { outcome: 'unknown' } : { outcome: 'status', status }
    } catch (err) {
      answer = { outcome: 'storage-error', code: err instanceof OutboxStorageError ? err.code : 'EIO' }
    }
    this.opts.logger.info({ event: 'outbox.retry-requested', id: request.id, from: request.from, outcome: answer.outcome }, 'retry asked for by another replica')
    try {
      await this.publish(this.replies(request.from), { t: request.t, ...answer })
    } catch {
      // The requester times out and says the owner did not answer; the status shows what happened.
    }
  }

  private answered (message: string): void {
    let parsed: { t?: unknown, outcome?: unknown, status?: unknown, code?: unknown }
    try {
      parsed = JSON.parse(message) as typeof parsed
    } catch {
      return
    }
    const resolve = typeof parsed.t === 'string' ? this.pending.get(parsed.t) : undefined
    if (resolve === undefined) return
    if (parsed.outcome === 'status' && typeof parsed.status === 'object' && parsed.status !== null) resolve({ outcome: 'status', status: parsed.status as DeliveryStatus })
    else if (parsed.outcome === 'storage-error') resolve({ outcome: 'storage-error', code: typeof parsed.code === 'string' ? parsed.code : 'EIO' })
    else resolve({ outcome: 'unknown' })
  }

  private async publish (channel: string, message: object): Promise<number> {
    try {
      return await this.opts.connection.call(async c => await c.publish(channel, JSON.stringify(message)))
    } catch (err) {
      throw new StatusStoreUnavailableError(err instanceof RedisUnavailableError ? err.reason : 'unknown error')
    }
  }

  private requests (owner: string): string {
    return `${this.opts.connection.keyPrefix}dlv-retry:${owner}`
  }

  private replies (replica: string): string {
    return `${this.opts.connection.keyPrefix}dlv-reply:${replica}`
  }
}

function parseRequest (message: string): Request | undefined {
  try {
    const r = JSON.parse(message) as Partial<Request>
    if (typeof r.t !== 'string' || typeof r.id !== 'string' || typeof r.caller !== 'string' || typeof r.from !== 'string' || !UUID.test(r.from)) return undefined
    return r as Request
  } catch {
    return undefined
  }
}
