// The delivery loop: per mailbox, at most `concurrency` uploads from the outbox at once.
// Each attempt is written down (state delivering, fsynced) before its upload starts; an
// upload whose outcome is unknown, or one a crash interrupted, is settled by looking in the
// upload folder (findDelivered) before it is sent again. Transient refusals are retried with
// jittered exponential backoff (CIC's Retry-After and the circuit's delay win when longer)
// and pause the whole mailbox, so an outage is probed, not hammered; CIC's 4xx refusals and
// the age limit make a delivery failed, visible and retryable by hand.
import type { Logger } from 'pino'
import { CicError } from '../../cic/errors.js'
import { CircuitOpenError } from '../../cic/mailbox.js'
import { toDeliveryFailure, type DeliveryFailure } from '../failure.js'
import { corruptRecord, type OutboxStore, type StoredRecord } from './store.js'
import { storedBody } from './stored-body.js'
import type { DeliveryError, OutboxOptions } from './types.js'

export interface Entry {
  record: StoredRecord
  /** A worker holds it (reconciling or uploading). */
  active: boolean
  /** Settled: CIC's answer is left out of memory and read from done/ when asked for. */
  cicOnDisk?: boolean
}

export interface WorkerHost {
  /** A record changed: on disk, or only in memory when the disk refused (the disk then holds an earlier, safe state). */
  changed: (entry: Entry, bodyRemoved: boolean) => void
  /** Whether another delivery of this outbox got that CIC file (a filename used again): then it is not this one's. */
  heldByOther: (mailbox: string, fileId: string, id: string) => boolean
}

export interface WorkerOptions {
  maxAgeMs: number
  concurrency: number
  baseMs: number
  maxMs: number
  deliver: OutboxOptions['deliver']
  findDelivered: OutboxOptions['findDelivered']
  logger: Logger
}

/** CIC refused the document itself: sending it again cannot help. */
const PERMANENT = new Set(['cic-rejected', 'cic-file-too-large', 'cic-file-exists', 'document-too-large'])
/**
 * Refusals about the gateway's session, folder or permissions rather than the document
 * (401 after a fresh login, 403, 404 after the folder was looked up again, 408): an
 * operator can fix them, so they are retried until the age limit.
 */
const NOT_ABOUT_THE_DOCUMENT = new Set([401, 403, 404, 408])
/** The stored file did not match its record while it was read for the upload. */
const DAMAGED = new Set(['digest-mismatch', 'document-incomplete'])
const MAX_TIMER_MS = 2 ** 31 - 1

export class OutboxWorker {
  private readonly queued = new Map<string, DueQueue>()
  private readonly activeCount = new Map<string, number>()
  private readonly pausedUntil = new Map<string, number>()
  private readonly mailboxFailures = new Map<string, number>()
  private readonly inflight = new Set<Promise<void>>()
  private readonly abort = new AbortController()
  private timer: NodeJS.Timeout | undefined
  private running = false

  constructor (private readonly store: OutboxStore, private readonly opts: WorkerOptions, private readonly host: WorkerHost) {}

  /** Takes a queued entry (accepted, recovered or retried); others are ignored. */
  add (entry: Entry): void {
    if (entry.record.state === 'queued' && !entry.active) this.queueOf(entry.record.mailbox).add(entry)
    this.pump()
  }

  start (): void {
    this.running = true
    this.pump()
  }

  /** No new attempts; those in flight go on. */
  stop (): void {
    this.running = false
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Resolves when no attempt is in flight. */
  async idle (): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight])
  }

  get inflightCount (): number {
    return this.inflight.size
  }

  /** Aborts the uploads in flight: their records say delivering, so the next start reconciles them. */
  abortInflight (): void {
    this.abort.abort()
  }

  private queueOf (mailbox: string): DueQueue {
    let queue = this.queued.get(mailbox)
    if (queue === undefined) this.queued.set(mailbox, queue = new DueQueue())
    return queue
  }

  private pump (): void {
    if (!this.running) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    const now = Date.now()
    let wake = Infinity
    for (const [mailbox, queue] of this.queued) {
      if (queue.size === 0) continue
      const paused = this.pausedUntil.get(mailbox) ?? 0
      while ((this.activeCount.get(mailbox) ?? 0) < this.opts.concurrency) {
        const next = queue.peek()
        if (next === undefined) break
        if (paused > now) {
          // While the mailbox is paused only what has outlived the age limit runs: it fails
          // without a call to CIC (unless its outcome must be reconciled first).
          const deadline = ageStart(next.entry.record) + this.opts.maxAgeMs
          if (next.at <= now && deadline <= now && next.entry.record.reconcile !== true) {
            this.launch(next.entry)
            continue
          }
          wake = Math.min(wake, paused, Math.max(next.at, deadline))
          break
        }
        if (next.at > now) {
          wake = Math.min(wake, next.at)
          break
        }
        this.launch(next.entry)
      }
    }
    if (wake < Infinity) {
      this.timer = setTimeout(() => { this.pump() }, Math.min(MAX_TIMER_MS, Math.max(0, wake - now) + 1))
      this.timer.unref()
    }
  }

  private launch (entry: Entry): void {
    const mailbox = entry.record.mailbox
    entry.active = true
    this.queued.get(mailbox)?.delete(entry)
    this.activeCount.set(mailbox, (this.activeCount.get(mailbox) ?? 0) + 1)
    const run: Promise<void> = this.attempt(entry)
      .catch((err: unknown) => {
        this.opts.logger.error({ event: 'outbox.error', id: entry.record.id, mailbox, err: describe(err) }, 'outbox attempt failed unexpectedly')
        // Kept in memory as queued; the disk holds a state that reconciles.
        this.set(entry, this.later(entry.record, toDeliveryFailure(err, { replayable: true }), true), false)
      })
      .finally(() => {
        this.inflight.delete(run)
        entry.active = false
        this.activeCount.set(mailbox, (this.activeCount.get(mailbox) ?? 1) - 1)
        if (entry.record.state === 'queued') this.queueOf(mailbox).add(entry)
        this.pump()
      })
    this.inflight.add(run)
  }

  private async attempt (entry: Entry): Promise<void> {
    const record = entry.record
    const { id, mailbox, filename } = record
    const deadline = ageStart(record) + this.opts.maxAgeMs
    if (record.reconcile === true || record.state === 'delivering') {
      // The last upload may have reached CIC: look before sending again.
      let found: { raw: Buffer, fileId: string } | undefined
      try {
        found = await this.opts.findDelivered(mailbox, filename, `${id}.${record.attempts}`)
      } catch (err) {
        const failure = toDeliveryFailure(err, { replayable: false })
        if (Date.now() >= deadline) return await this.expire(entry, true)
        return await this.retryLater(entry, failure, true)
      }
      if (found !== undefined && this.host.heldByOther(mailbox, found.fileId, id)) {
        this.opts.logger.warn({ event: 'outbox.reconcile', id, mailbox, filename, cicFileId: found.fileId }, 'the file of that name in CIC belongs to another delivery: not counted as this one')
        found = undefined
      }
      if (found !== undefined) return await this.delivered(entry, found, 'reconciled')
      this.opts.logger.info({ event: 'outbox.reconcile', id, mailbox, filename, found: false }, 'not in the upload folder: sending it')
    }
    if (Date.now() >= deadline) return await this.expire(entry, false)

    const delivering: StoredRecord = { ...withoutSchedule(record), state: 'delivering', attempts: record.attempts + 1 }
    try {
      await this.store.update(delivering)
    } catch (err) {
      // Not sent: without the record saying so first, no upload starts.
      this.opts.logger.error({ event: 'outbox.store-failed', id, mailbox, code: (err as NodeJS.ErrnoException).code }, 'the outbox cannot write a record: attempt postponed')
      const failure = toDeliveryFailure(err, { replayable: true })
      this.set(entry, this.later(record, failure, record.reconcile === true), false)
      return
    }
    this.set(entry, delivering, false)
    let receipt: { raw: Buffer, fileId: string }
    try {
      receipt = await this.opts.deliver({
        mailbox,
        filename,
        body: storedBody(this.store.bodyPath(id), record.bytes, Buffer.from(record.sha256, 'base64')),
        requestId: `${id}.${delivering.attempts}`,
        signal: this.abort.signal
      })
    } catch (err) {
      return await this.uploadFailed(entry, toDeliveryFailure(err, { replayable: true }))
    }
    await this.delivered(entry, receipt, 'uploaded')
  }

  private async delivered (entry: Entry, found: { raw: Buffer, fileId: string }, how: 'uploaded' | 'reconciled'): Promise<void> {
    const record = entry.record
    const now = new Date().toISOString()
    const { lastError: _lastError, ...rest } = withoutSchedule(record)
    const done: StoredRecord = { ...rest, state: 'delivered', cic: parseJson(found.raw), fileId: found.fileId, deliveredAt: now, settledAt: now }
    this.mailboxFailures.delete(record.mailbox)
    this.pausedUntil.delete(record.mailbox)
    try {
      await this.store.settle(done)
    } catch (err) {
      // CIC holds it; the disk still says delivering, so the next attempt reconciles and finds it.
      this.opts.logger.error({ event: 'outbox.store-failed', id: record.id, mailbox: record.mailbox, code: (err as NodeJS.ErrnoException).code }, 'delivered, but the outbox cannot record it: it will be reconciled')
      this.set(entry, { ...this.later(record, toDeliveryFailure(err, { replayable: true }), true), state: 'queued' }, false)
      return
    }
    this.set(entry, done, true)
    this.opts.logger.info({ event: 'outbox.delivered', id: record.id, mailbox: record.mailbox, filename: record.filename, bytes: record.bytes, attempts: record.attempts, how, cicFileId: found.fileId }, 'delivered from the outbox')
  }

  private async uploadFailed (entry: Entry, failure: DeliveryFailure): Promise<void> {
    const record = entry.record
    if (DAMAGED.has(failure.code)) return await this.setAside(entry)
    if (failure.delivered === 'no' && PERMANENT.has(failure.code) && !NOT_ABOUT_THE_DOCUMENT.has(failure.upstreamStatus ?? 0)) {
      const failed: StoredRecord = { ...withoutSchedule(record), state: 'failed', lastError: errorOf(failure) }
      await this.persist(entry, failed)
      this.opts.logger.warn({ event: 'outbox.failed', id: record.id, mailbox: record.mailbox, filename: record.filename, code: failure.code, upstreamStatus: failure.upstreamStatus, attempts: record.attempts }, 'CIC refused the document: delivery failed, not retried')
      return
    }
    await this.retryLater(entry, failure, failure.delivered === 'unknown')
  }

  private async retryLater (entry: Entry, failure: DeliveryFailure, reconcile: boolean): Promise<void> {
    const next = this.later(entry.record, failure, reconcile)
    await this.persist(entry, next)
    this.opts.logger.warn({ event: 'outbox.deferred', id: next.id, mailbox: next.mailbox, code: failure.code, delivered: failure.delivered, attempts: next.attempts, nextAttemptAt: next.nextAttemptAt }, 'not delivered yet: will try again')
  }

  /** The queued record after a failed try, and the mailbox paused for the backoff. */
  private later (record: StoredRecord, failure: DeliveryFailure, reconcile: boolean): StoredRecord {
    const now = Date.now()
    const failures = (record.failures ?? 0) + 1
    const mailboxFailures = (this.mailboxFailures.get(record.mailbox) ?? 0) + 1
    this.mailboxFailures.set(record.mailbox, mailboxFailures)
    const wait = retryAfterMs(failure) ?? 0
    const delay = Math.max(this.backoff(failures), wait)
    const pause = Math.max(this.backoff(mailboxFailures), wait)
    this.pausedUntil.set(record.mailbox, Math.max(this.pausedUntil.get(record.mailbox) ?? 0, now + pause))
    const at = Math.min(now + delay, ageStart(record) + this.opts.maxAgeMs)
    const next: StoredRecord = { ...withoutSchedule(record), state: 'queued', failures, nextAttemptAt: new Date(at).toISOString(), lastError: errorOf(failure) }
    if (reconcile) next.reconcile = true
    return next
  }

  /** Older than the age limit: failed, with the body kept for a retry (which reconciles first when the outcome is unknown). */
  private async expire (entry: Entry, reconcile: boolean): Promise<void> {
    const record = entry.record
    const failed: StoredRecord = {
      ...withoutSchedule(record),
      state: 'failed',
      lastError: { code: 'outbox-expired', title: 'Not delivered within the outbox age limit', ...(record.lastError?.upstreamStatus !== undefined ? { upstreamStatus: record.lastError.upstreamStatus } : {}) }
    }
    if (reconcile) failed.reconcile = true
    await this.persist(entry, failed)
    this.opts.logger.warn({ event: 'outbox.failed', id: record.id, mailbox: record.mailbox, filename: record.filename, code: 'outbox-expired', lastCode: record.lastError?.code, attempts: record.attempts }, 'not delivered within the age limit: delivery failed')
  }

  /** The stored file no longer matches its record: moved to corrupt/, never uploaded again. */
  private async setAside (entry: Entry): Promise<void> {
    const record = entry.record
    const failed = corruptRecord(record, Date.now())
    try {
      await this.store.writeSettled(failed)
      await this.store.setAside(record.id)
    } catch (err) {
      this.opts.logger.error({ event: 'outbox.store-failed', id: record.id, code: (err as NodeJS.ErrnoException).code }, 'the outbox cannot set a damaged document aside')
    }
    this.set(entry, failed, true)
    this.opts.logger.error({ event: 'outbox.corrupt', id: record.id, mailbox: record.mailbox, file: `corrupt/${record.id}`, reason: 'stored body does not match its record' }, 'a stored document was damaged: set aside in corrupt/, not delivered')
  }

  /** Writes the new state; when the disk refuses, keeps it in memory (the disk's older state reconciles on restart). */
  private async persist (entry: Entry, record: StoredRecord): Promise<void> {
    try {
      await this.store.update(record)
    } catch (err) {
      this.opts.logger.error({ event: 'outbox.store-failed', id: record.id, mailbox: record.mailbox, code: (err as NodeJS.ErrnoException).code }, 'the outbox cannot write a record')
    }
    this.set(entry, record, false)
  }

  private set (entry: Entry, record: StoredRecord, bodyRemoved: boolean): void {
    entry.record = record
    if (record.state !== 'queued') this.queued.get(record.mailbox)?.delete(entry)
    else if (!entry.active) this.queueOf(record.mailbox).add(entry)
    this.host.changed(entry, bodyRemoved)
  }

  /** Jittered exponential backoff: between half and all of min(maxMs, baseMs * 2^(n-1)). */
  private backoff (n: number): number {
    const cap = Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** Math.min(n - 1, 40))
    return Math.round(cap / 2 + Math.random() * cap / 2)
  }
}

/** The age limit counts from acceptance, or from the last retry(). */
export function ageStart (record: StoredRecord): number {
  return Date.parse(record.requeuedAt ?? record.acceptedAt)
}

/** When an entry is due: its nextAttemptAt, or now. */
function dueAt (record: StoredRecord): number {
  return record.nextAttemptAt === undefined ? 0 : Date.parse(record.nextAttemptAt)
}

/**
 * A mailbox's queued entries by due time (then id, i.e. acceptance): a binary heap with lazy
 * removal, so a queue of a million documents costs O(log n) per start, not a scan.
 */
export class DueQueue {
  private readonly heap: Array<{ entry: Entry, at: number }> = []
  /** The entries in the queue and the due time they were added with; heap nodes that disagree are stale. */
  private readonly members = new Map<Entry, number>()

  get size (): number {
    return this.members.size
  }

  add (entry: Entry): void {
    const at = dueAt(entry.record)
    if (this.members.get(entry) === at) return
    this.members.set(entry, at)
    this.heap.push({ entry, at })
    this.up(this.heap.length - 1)
  }

  delete (entry: Entry): void {
    this.members.delete(entry)
  }

  /** The entry due first, or undefined when empty. */
  peek (): { entry: Entry, at: number } | undefined {
    while (this.heap.length > 0) {
      const top = this.heap[0]!
      if (this.members.get(top.entry) === top.at) return top
      this.pop()
    }
    return undefined
  }

  private pop (): void {
    const last = this.heap.pop()!
    if (this.heap.length === 0) return
    this.heap[0] = last
    this.down(0)
  }

  private before (a: { entry: Entry, at: number }, b: { entry: Entry, at: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.entry.record.id < b.entry.record.id)
  }

  private up (i: number): void {
    const h = this.heap
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.before(h[i]!, h[parent]!)) return
      ;[h[i], h[parent]] = [h[parent]!, h[i]!]
      i = parent
    }
  }

  private down (i: number): void {
    const h = this.heap
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let best = i
      if (l < h.length && this.before(h[l]!, h[best]!)) best = l
      if (r < h.length && this.before(h[r]!, h[best]!)) best = r
      if (best === i) return
      ;[h[i], h[best]] = [h[best]!, h[i]!]
      i = best
    }
  }
}

function withoutSchedule (record: StoredRecord): StoredRecord {
  const { nextAttemptAt: _next, reconcile: _reconcile, ...rest } = record
  return rest
}

/** CIC's Retry-After, or the circuit's remaining open time; not the gateway's own default advice to HTTP callers. */
function retryAfterMs (failure: DeliveryFailure): number | undefined {
  const cause = failure.cause
  if (cause instanceof CircuitOpenError) return cause.retryAfterSeconds * 1000
  if (cause instanceof CicError && cause.retryAfterSeconds !== undefined) return cause.retryAfterSeconds * 1000
  return undefined
}

function errorOf (failure: DeliveryFailure): DeliveryError {
  return { code: failure.code, title: failure.title, ...(failure.upstreamStatus !== undefined ? { upstreamStatus: failure.upstreamStatus } : {}) }
}

function parseJson (raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'))
  } catch {
    return undefined
  }
}

function describe (err: unknown): { message: string } {
  return { message: err instanceof Error ? err.message : String(err) }
}
