// Feeds the shared status store from the outbox's changes (OutboxOptions.onChange). Writing
// never blocks or fails a delivery: a write that fails is logged once, and every record is
// written again (resync) when the store answers again, and at start-up (a crash can leave the
// last write undone). Per delivery, one write at a time, the latest state next; each write
// carries a version, and the store keeps the highest, so a late write of an older state
// (a resync racing a change, a retried write) never replaces a newer one.
import type { Logger } from 'pino'
import type { DeliveryState, DeliveryStatus } from './types.js'
import { sharedCopy, type DeliveryStatusStore, type ReplicaOwner, type StatusWrite } from './status-store.js'

/** What a resync reads of the outbox. */
export interface StatusSource {
  snapshot: () => Array<{ id: string, caller: string, state: DeliveryState, settledAt?: string }>
  /** The full status (CIC's answer included) of a delivery this outbox holds. */
  get: (id: string, caller: string) => Promise<DeliveryStatus | undefined>
}

export interface StatusPublisherOptions {
  store: DeliveryStatusStore
  owner: ReplicaOwner
  /** How long settled records are kept (the outbox's keepSettledMs): their TTL in the store. */
  keepSettledMs: number
  logger: Logger
  /** Deliveries per resync step (one round trip for their stored states, then their writes). */
  batch?: number
}

const RESYNC_GAP_MS = 5000

interface Slot {
  next?: StatusWrite
  done: Promise<void>
}

export class StatusPublisher {
  private readonly slots = new Map<string, Slot>()
  private lastVersion = 0
  private source: StatusSource | undefined
  /** A write failed since the last complete resync. */
  private stale = false
  private failing = false
  private resyncing: Promise<void> | undefined
  private resyncAgain = false
  private resyncTimer: NodeJS.Timeout | undefined
  private lastResyncAt = 0
  private closed = false

  constructor (private readonly opts: StatusPublisherOptions) {}

  /**
   * Queues the status for the store. The promise resolves once it (or a later state of the
   * same delivery) is written or has failed; it never rejects.
   */
  publish (status: DeliveryStatus, settledAt?: string): Promise<void> {
    if (this.closed) return Promise.resolve()
    // The version is taken now: the order of the changes, not of the writes.
    const write: StatusWrite = { status: sharedCopy(status), version: this.version(), owner: this.opts.owner }
    if (settledAt !== undefined) write.ttlMs = Math.max(1000, this.opts.keepSettledMs - (Date.now() - Date.parse(settledAt)))
    const busy = this.slots.get(status.id)
    if (busy !== undefined) {
      busy.next = write
      return busy.done
    }
    const slot: Slot = { done: Promise.resolve() }
    slot.done = this.drain(write, slot)
    this.slots.set(status.id, slot)
    return slot.done
  }

  /** Resolves when the writes queued now are done, or after maxMs. */
  async flushed (maxMs: number): Promise<void> {
    if (this.slots.size === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all([...this.slots.values()].map(async s => { await s.done })),
      new Promise<void>(resolve => { timer = setTimeout(resolve, maxMs) })
    ])
    clearTimeout(timer)
  }

  /** Writes every record the outbox holds that the store may lack (from now on, and whenever the store comes back). */
  attach (source: StatusSource): void {
    this.source = source
    void this.resync()
  }

  /**
   * The store answers again: everything written while it failed is written now, and
   * everything it may have lost meanwhile (a Redis restarted without its data, a failover).
   */
  storeUp (): void {
    this.scheduleResync()
  }

  async close (): Promise<void> {
    this.closed = true
    clearTimeout(this.resyncTimer)
    await this.resyncing
    await this.flushed(2000)
  }

  /** Same or later than Date.now() in µs, and always above the previous one: later than every version of a previous run too (its clock was earlier). */
  private version (): number {
    this.lastVersion = Math.max(Date.now() * 1000, this.lastVersion + 1)
    return this.lastVersion
  }

  private async drain (first: StatusWrite, slot: Slot): Promise<void> {
    let write: StatusWrite | undefined = first
    while (write !== undefined) {
      await this.write(write)
      write = slot.next
      slot.next = undefined
    }
    this.slots.delete(first.status.id)
  }

  private async write (write: StatusWrite): Promise<void> {
    try {
      await this.opts.store.put(write)
      // The store answers again without a reconnect (a refused write, a slow moment): catch up.
      if (this.stale) this.scheduleResync()
    } catch (err) {
      this.stale = true
      if (!this.failing) {
        this.failing = true
        this.opts.logger.warn({ event: 'delivery-status.unavailable', reason: reasonOf(err) }, 'delivery status not shared: the other replicas see this one\'s deliveries as they were until the shared store answers again (then every record is written again); this replica answers for its own')
      }
    }
  }

  /** A resync soon, at most one per RESYNC_GAP_MS (a store refusing some writes must not cause a resync per change). */
  private scheduleResync (): void {
    if (this.resyncTimer !== undefined || this.closed) return
    const wait = Math.max(0, this.lastResyncAt + RESYNC_GAP_MS - Date.now())
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined
      void this.resync()
    }, wait)
    this.resyncTimer.unref()
  }

  private async resync (): Promise<void> {
    if (this.source === undefined || this.closed) return
    if (this.resyncing !== undefined) {
      this.resyncAgain = true
      return
    }
    this.resyncing = this.resyncLoop(this.source).finally(() => { this.resyncing = undefined })
    await this.resyncing
  }

  private async resyncLoop (source: StatusSource): Promise<void> {
    do {
      this.lastResyncAt = Date.now()
      this.resyncAgain = false
      const wasStale = this.stale
      this.stale = false
      try {
        const written = await this.resyncOnce(source)
        if (!this.stale) {
          this.failing = false
          if (wasStale || written > 0) this.opts.logger.info({ event: 'delivery-status.resynced', written }, 'delivery status records shared again')
        }
      } catch (err) {
        // The store failed while reading: whatever was not written waits for it to come back.
        this.stale = true
        if (!this.failing) {
          this.failing = true
          this.opts.logger.warn({ event: 'delivery-status.unavailable', reason: reasonOf(err) }, 'delivery status not shared until the shared store answers again')
        }
      }
    } while (this.resyncAgain && !this.closed)
  }

  /**
   * Deliveries still in the outbox (queued, delivering, failed) are written again: the store
   * may hold an older state. Settled ones only when the store's state differs (their CIC
   * answer is read from disk then): a week of delivered records is not rewritten each time.
   */
  private async resyncOnce (source: StatusSource): Promise<number> {
    const all = source.snapshot()
    const step = this.opts.batch ?? 500
    let written = 0
    for (let i = 0; i < all.length && !this.closed; i += step) {
      const batch = all.slice(i, i + step)
      const settled = batch.filter(e => e.settledAt !== undefined)
      const stored = settled.length > 0 ? await this.opts.store.states(settled.map(e => e.id)) : []
      const differs = new Set(settled.filter((e, j) => stored[j] !== e.state).map(e => e.id))
      const writes: Array<Promise<void>> = []
      for (const entry of batch) {
        if (entry.settledAt !== undefined && !differs.has(entry.id)) continue
        const status = await source.get(entry.id, entry.caller)
        if (status === undefined) continue
        writes.push(this.publish(status, entry.settledAt))
        written++
      }
      await Promise.all(writes)
      if (this.stale) break
    }
    return written
  }
}

function reasonOf (err: unknown): string {
  const reason = (err as { reason?: unknown } | undefined)?.reason
  return typeof reason === 'string' ? reason : 'unknown error'
}
