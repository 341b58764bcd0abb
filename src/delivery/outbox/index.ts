// Store and forward: a document accepted into the outbox is on disk (body and record
// fsynced, directory fsynced) before accept() resolves, and is delivered into CIC exactly
// once, across crashes, by the per-mailbox workers (worker.ts) from the on-disk queue
// (store.ts). No HTTP here: the routes map states and errors to answers.
import { randomBytes } from 'node:crypto'
import { BodyTooLargeError } from '../body.js'
import { OutboxLock } from './lock.js'
import { OutboxStore, ID_PATTERN, type Recovered, type StoredRecord } from './store.js'
import { ageStart, OutboxWorker, type Entry } from './worker.js'
import {
  OutboxClosedError,
  OutboxFullError,
  OutboxStorageError,
  type AcceptRequest,
  type DeliveryState,
  type DeliveryStatus,
  type ListOptions,
  type OutboxOptions,
  type RecoveryReport
} from './types.js'

export * from './types.js'
export { OutboxLockedError } from './lock.js'

const DAY_MS = 24 * 3600 * 1000
const PRUNE_EVERY_MS = 3600 * 1000

export class Outbox {
  private readonly entries = new Map<string, Entry>()
  /** `${mailbox}\0${fileId}` -> the delivery that got that CIC file. */
  private readonly fileIds = new Map<string, string>()
  private readonly accepting = new Set<Promise<unknown>>()
  private readonly counts: Record<DeliveryState, number> = { queued: 0, delivering: 0, delivered: 0, failed: 0 }
  /** The state each entry is counted under. */
  private readonly counted = new WeakMap<Entry, DeliveryState>()
  private readonly worker: OutboxWorker
  /** How long settled status records stay readable. */
  readonly keepSettledMs: number
  private prune: NodeJS.Timeout | undefined
  private closed = false
  /** Bytes of the bodies in queue/. */
  private storedBytes = 0
  /** Bytes being stored by accepts in progress. */
  private reservedBytes = 0

  private constructor (private readonly opts: OutboxOptions, private readonly store: OutboxStore, private readonly lock: OutboxLock, readonly recovery: RecoveryReport) {
    this.keepSettledMs = opts.keepSettledMs ?? 7 * DAY_MS
    this.worker = new OutboxWorker(store, {
      maxAgeMs: opts.maxAgeMs,
      concurrency: Math.max(1, opts.concurrency),
      baseMs: opts.retry?.baseMs ?? 1000,
      maxMs: opts.retry?.maxMs ?? 300_000,
      deliver: opts.deliver,
      findDelivered: opts.findDelivered,
      logger: opts.logger
    }, {
      changed: (entry, bodyRemoved) => { this.changed(entry, bodyRemoved) },
      heldByOther: (mailbox, fileId, id) => {
        const holder = this.fileIds.get(`${mailbox}\0${fileId}`)
        return holder !== undefined && holder !== id
      }
    })
  }

  /**
   * Creates the directories and reads what is on disk: interrupted accepts are discarded,
   * torn or mismatching records and bodies are set aside in corrupt/ (and reported, never
   * uploaded), deliveries whose upload may have started are reconciled before they are
   * sent again. Does not start the workers.
   */
  static async open (opts: OutboxOptions): Promise<Outbox> {
    // Before anything is read: another live gateway on this directory is an error (OutboxLockedError).
    const lock = await OutboxLock.acquire(opts.dir, opts.logger, opts.lock)
    const store = new OutboxStore(opts.dir)
    const now = Date.now()
    let found: Recovered
    try {
      await store.init()
      found = await store.recover(opts.keepSettledMs ?? 7 * DAY_MS, now)
    } catch (err) {
      await lock.release()
      throw err
    }
    const outbox = new Outbox(opts, store, lock, found.report)
    for (const record of found.settled) outbox.index(record, false)
    const reconcileAt = new Date(now + (opts.reconcileDelayMs ?? 2000)).toISOString()
    for (const record of found.active) {
      // The upload may have been in flight when the process died: reconciled first (the record on disk says delivering until the next write).
      const inMemory: StoredRecord = record.state === 'delivering' ? { ...record, state: 'queued', reconcile: true, nextAttemptAt: reconcileAt } : record
      outbox.index(inMemory, true)
    }
    const { report } = found
    for (const c of report.corrupt) opts.logger.error({ event: 'outbox.corrupt', file: c.file, id: c.id, reason: c.reason }, 'outbox file damaged: set aside in corrupt/, not delivered')
    opts.logger.info({ event: 'outbox.open', dir: opts.dir, queued: report.queued, reconciling: report.reconciling, failed: report.failed, settled: report.settled, discarded: report.discarded, corrupt: report.corrupt.length, bytes: outbox.storedBytes }, 'outbox opened')
    return outbox
  }

  /** Starts the per-mailbox workers. */
  start (): void {
    if (this.closed) return
    this.worker.start()
    this.prune ??= setInterval(() => { void this.pruneSettled() }, Math.min(PRUNE_EVERY_MS, Math.max(1000, this.keepSettledMs)))
    this.prune.unref()
  }

  /**
   * Stores a document: resolves once body and record are fsynced and committed into queue/
   * (then it is delivered, whatever happens to this process). Throws OutboxFullError when
   * the capacity cannot hold it, OutboxStorageError when the disk refuses (partial files
   * removed), BodyTooLargeError / BodyIncompleteError for the body, OutboxClosedError after close().
   */
  async accept (doc: AcceptRequest): Promise<DeliveryStatus> {
    if (this.closed) throw new OutboxClosedError()
    const run = this.store1(doc)
    this.accepting.add(run)
    try {
      return await run
    } finally {
      this.accepting.delete(run)
    }
  }

  private async store1 (doc: AcceptRequest): Promise<DeliveryStatus> {
    const capacity = this.opts.maxBytes
    if (doc.expectedLength !== undefined && doc.expectedLength > doc.maxBytes) throw new BodyTooLargeError(doc.maxBytes)
    let reserved = 0
    const reserve = (n: number): boolean => {
      if (this.storedBytes + this.reservedBytes + n > capacity) return false
      this.reservedBytes += n
      reserved += n
      return true
    }
    if (doc.expectedLength !== undefined && !reserve(doc.expectedLength)) throw new OutboxFullError(capacity)
    const known = doc.expectedLength !== undefined
    const id = newId()
    try {
      const body = await this.store.writeBody(id, doc.source, {
        maxBytes: doc.maxBytes,
        expectedLength: doc.expectedLength,
        // A declared length was reserved whole; otherwise each chunk takes its share.
        reserve: n => known || reserve(n),
        capacity
      })
      const record: StoredRecord = {
        v: 1,
        id,
        state: 'queued',
        caller: doc.caller,
        mailbox: doc.mailbox,
        filename: doc.filename,
        bytes: body.bytes,
        sha256: body.sha256.toString('base64'),
        acceptedAt: new Date().toISOString(),
        attempts: 0,
        ...(doc.idempotencyKey !== undefined ? { idempotencyKey: doc.idempotencyKey } : {})
      }
      await this.store.commit(record)
      this.reservedBytes -= reserved
      reserved = 0
      // Indexed (and handed to the workers) only once durable. Committed: nothing here may
      // reach the catch below, which would discard the files.
      await this.notify(this.index(record, true))?.catch(() => {})
      return publicStatus(record)
    } catch (err) {
      this.reservedBytes -= reserved
      await this.store.discard(id)
      if (!(err instanceof OutboxStorageError) && isStorageErrno(err)) throw new OutboxStorageError((err as NodeJS.ErrnoException).code ?? 'EIO', err)
      throw err
    }
  }

  /** A delivery's status (one this outbox does not hold: from lookup, when set); undefined for an unknown id or another caller's. */
  async get (id: string, caller: string): Promise<DeliveryStatus | undefined> {
    const entry = this.entries.get(id)
    if (entry === undefined) return await this.opts.lookup?.(id, caller)
    if (entry.record.caller !== caller) return undefined
    return await this.full(entry)
  }

  /** Every delivery held (status records included), for a copy elsewhere. */
  snapshot (): Array<{ id: string, caller: string, state: DeliveryState, settledAt?: string }> {
    return [...this.entries.values()].map(({ record: r }) => r.settledAt === undefined ? { id: r.id, caller: r.caller, state: r.state } : { id: r.id, caller: r.caller, state: r.state, settledAt: r.settledAt })
  }

  /** The status with CIC's answer, read from done/ for a settled delivery. */
  private async full (entry: Entry): Promise<DeliveryStatus> {
    const status = publicStatus(entry.record)
    if (entry.cicOnDisk === true) {
      const cic = (await this.store.readSettled(entry.record.id))?.cic
      if (cic !== undefined) status.cic = cic
    }
    return status
  }

  /** The caller's deliveries in a state, oldest first, a page of at most limit after the cursor. */
  async list (caller: string, state: DeliveryState, opts: ListOptions): Promise<{ items: DeliveryStatus[], next?: string }> {
    const matching = [...this.entries.values()]
      .map(e => e.record)
      .filter(r => r.caller === caller && r.state === state && (opts.after === undefined || r.id > opts.after))
      .sort((a, b) => a.id < b.id ? -1 : 1)
    const limit = Math.max(1, Math.floor(opts.limit))
    const items = await Promise.all(matching.slice(0, limit).map(async r => await this.full(this.entries.get(r.id)!)))
    return matching.length > limit ? { items, next: items[items.length - 1]!.id } : { items }
  }

  /**
   * A failed delivery goes back in the queue (its age limit counts from now; an outcome still
   * unknown is reconciled first); any other state, and a failed one set aside as damaged, is
   * returned unchanged. Throws OutboxStorageError when the disk refuses the change.
   */
  async retry (id: string, caller: string): Promise<DeliveryStatus | undefined> {
    const entry = this.entries.get(id)
    if (entry === undefined || entry.record.caller !== caller) return undefined
    const record = entry.record
    // Settled records (set aside, no body) and deliveries a worker holds stay as they are.
    if (record.state !== 'failed' || entry.active || record.settledAt !== undefined || this.closed) return publicStatus(record)
    const { nextAttemptAt: _next, ...rest } = record
    const queued: StoredRecord = { ...rest, state: 'queued', requeuedAt: new Date().toISOString(), failures: 0 }
    try {
      await this.store.update(queued)
    } catch (err) {
      // Still failed, on disk and here.
      throw new OutboxStorageError((err as NodeJS.ErrnoException).code ?? 'EIO', err)
    }
    entry.record = queued
    this.changed(entry, false)
    this.worker.add(entry)
    this.opts.logger.info({ event: 'outbox.retry', id, mailbox: record.mailbox, lastCode: record.lastError?.code }, 'failed delivery put back in the queue')
    return publicStatus(queued)
  }

  /** Age in seconds of the oldest document not delivered yet (queued or delivering); 0 when none. */
  oldestQueuedAgeSeconds (): number {
    let oldest = Infinity
    for (const { record } of this.entries.values()) {
      if (record.state === 'queued' || record.state === 'delivering') oldest = Math.min(oldest, ageStart(record))
    }
    return oldest === Infinity ? 0 : Math.max(0, (Date.now() - oldest) / 1000)
  }

  /** Deliveries per state (settled ones while their status records are kept). */
  stateCounts (): Record<DeliveryState, number> {
    return { ...this.counts }
  }

  /** Bytes the outbox holds (stored bodies and accepts in progress), against maxBytes. */
  get bytesInUse (): number {
    return this.storedBytes + this.reservedBytes
  }

  /**
   * Stops accepting and starting deliveries; waits up to timeoutMs for accepts and uploads in
   * progress, then aborts the uploads still running. Everything not delivered stays on disk
   * for the next open().
   */
  async close (timeoutMs: number): Promise<void> {
    this.closed = true
    this.worker.stop()
    if (this.prune !== undefined) clearInterval(this.prune)
    const all = async (): Promise<void> => {
      await Promise.allSettled([...this.accepting])
      await this.worker.idle()
    }
    if (!await within(all(), timeoutMs)) {
      this.opts.logger.warn({ event: 'outbox.close', inflight: this.worker.inflightCount, accepting: this.accepting.size }, 'outbox closing: uploads still running are aborted and will be reconciled at the next start')
      this.worker.abortInflight()
      await within(all(), 1000)
    }
    await this.lock.release()
  }

  private index (record: StoredRecord, inQueue: boolean): Entry {
    const entry: Entry = { record, active: false }
    this.lighten(entry)
    this.entries.set(record.id, entry)
    this.counts[record.state]++
    this.counted.set(entry, record.state)
    if (inQueue) this.storedBytes += record.bytes
    if (record.fileId !== undefined) this.fileIds.set(`${record.mailbox}\0${record.fileId}`, record.id)
    if (inQueue && record.state === 'queued') this.worker.add(entry)
    return entry
  }

  private changed (entry: Entry, bodyRemoved: boolean): void {
    const before = this.counted.get(entry)
    const now = entry.record.state
    if (before !== now) {
      if (before !== undefined) this.counts[before]--
      this.counts[now]++
      this.counted.set(entry, now)
    }
    if (bodyRemoved) this.storedBytes -= entry.record.bytes
    if (entry.record.fileId !== undefined) this.fileIds.set(`${entry.record.mailbox}\0${entry.record.fileId}`, entry.record.id)
    void this.notify(entry)?.catch(() => {})
    this.lighten(entry)
  }

  /** A settled record is kept in memory without CIC's answer (read from done/ when asked for): many of them wait out their TTL. */
  private lighten (entry: Entry): void {
    if (entry.record.settledAt === undefined || entry.record.cic === undefined) return
    const { cic: _cic, ...light } = entry.record
    entry.record = light
    entry.cicOnDisk = true
  }

  private notify (entry: Entry): void | Promise<void> {
    try {
      return this.opts.onChange?.(publicStatus(entry.record), entry.record.settledAt)
    } catch (err) {
      this.opts.logger.warn({ event: 'outbox.on-change', err: { message: err instanceof Error ? err.message : String(err) } }, 'outbox onChange threw')
    }
  }

  /** Settled status records past their TTL are removed. */
  private async pruneSettled (): Promise<void> {
    const cutoff = Date.now() - this.keepSettledMs
    for (const [id, entry] of this.entries) {
      const at = entry.record.settledAt
      if (at === undefined || Date.parse(at) > cutoff) continue
      await this.store.removeSettled(id)
      this.entries.delete(id)
      this.counts[entry.record.state]--
      if (entry.record.fileId !== undefined) this.fileIds.delete(`${entry.record.mailbox}\0${entry.record.fileId}`)
    }
  }
}

/** What callers see of a record (the on-disk bookkeeping left out). */
function publicStatus (record: StoredRecord): DeliveryStatus {
  const status: DeliveryStatus = {
    id: record.id,
    state: record.state,
    caller: record.caller,
    mailbox: record.mailbox,
    filename: record.filename,
    bytes: record.bytes,
    sha256: record.sha256,
    acceptedAt: record.acceptedAt,
    attempts: record.attempts
  }
  if (record.nextAttemptAt !== undefined && record.state === 'queued') status.nextAttemptAt = record.nextAttemptAt
  if (record.lastError !== undefined) status.lastError = { ...record.lastError }
  if (record.cic !== undefined) status.cic = structuredClone(record.cic)
  if (record.deliveredAt !== undefined) status.deliveredAt = record.deliveredAt
  if (record.idempotencyKey !== undefined) status.idempotencyKey = record.idempotencyKey
  return status
}

/** A UUIDv7: 48 bits of milliseconds, then random bits. */
function newId (): string {
  const b = randomBytes(16)
  b.writeUIntBE(Date.now(), 0, 6)
  b[6] = (b[6]! & 0x0f) | 0x70
  b[8] = (b[8]! & 0x3f) | 0x80
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** Whether an id has the outbox's shape (for routes that want to refuse others early). */
export function isDeliveryId (id: string): boolean {
  return ID_PATTERN.test(id)
}

function isStorageErrno (err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' && /^E[A-Z]+$/.test(code)
}

async function within (work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>(resolve => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([work.then(() => true, () => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}
