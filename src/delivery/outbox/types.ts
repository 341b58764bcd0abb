// The outbox's public types and errors. The outbox speaks no HTTP: the routes map these
// states and errors to status codes and problem+json.
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import type { LockOptions } from './lock.js'
import type { PreparedBody } from '../body.js'

export type DeliveryState = 'queued' | 'delivering' | 'delivered' | 'failed'

export const DELIVERY_STATES: readonly DeliveryState[] = ['queued', 'delivering', 'delivered', 'failed']

export interface DeliveryError {
  /** A stable code: a delivery failure's (cic-rejected, cic-unavailable, ...) or the outbox's own (outbox-expired, outbox-corrupt). */
  code: string
  /** A fixed title for the code; never text from the caller or from CIC. */
  title: string
  upstreamStatus?: number
}

export interface DeliveryStatus {
  id: string
  state: DeliveryState
  /** The caller's name, '' when auth is off. A caller sees only its own deliveries. */
  caller: string
  mailbox: string
  filename: string
  bytes: number
  /** SHA-256 of the body, base64. */
  sha256: string
  /** ISO time the body and its record were on disk. */
  acceptedAt: string
  /** Uploads started (reconciliations not counted). */
  attempts: number
  /** ISO time of the next attempt, while queued. */
  nextAttemptAt?: string
  lastError?: DeliveryError
  /** CIC's 201 JSON once delivered (or the file resource reconciliation found). */
  cic?: unknown
  deliveredAt?: string
  idempotencyKey?: string
}

/** What the outbox sends to CIC, shaped like DeliveryService.deliver's request. */
export interface OutboxDocument {
  mailbox: string
  filename: string
  /** The stored file: replayable, Content-Length known, verified against the record's size and SHA-256 as it is read. */
  body: PreparedBody
  requestId: string
  /** Aborted when close() gives up waiting for the upload. */
  signal?: AbortSignal
}

export interface OutboxOptions {
  /** The outbox directory, on a persistent volume. */
  dir: string
  /** Capacity: the bytes of every stored body (queued, delivering, failed) plus uploads being stored. */
  maxBytes: number
  /** After this long without success (since acceptance, or since a retry()) a delivery becomes failed. */
  maxAgeMs: number
  /** Uploads at once per mailbox. */
  concurrency: number
  deliver: (doc: OutboxDocument) => Promise<{ raw: Buffer, fileId: string }>
  /** The upload folder's file of that name, if any: settles a delivery whose upload may have started. */
  findDelivered: (mailbox: string, filename: string, requestId: string) => Promise<{ raw: Buffer, fileId: string } | undefined>
  logger: Logger
  /**
   * Every state change, after it is on disk (metrics, the shared status store), with the
   * time a settled record was settled. Must not throw, and a promise it returns must not
   * reject: the one of an accept is awaited before accept() resolves (so must settle soon).
   */
  onChange?: (status: DeliveryStatus, settledAt?: string) => void | Promise<void>
  /** With several replicas: the status of a delivery this outbox does not hold, from the shared store (get() asks it). May throw. */
  lookup?: (id: string, caller: string) => Promise<DeliveryStatus | undefined>
  /** Backoff between attempts: jittered exponential from baseMs (default 1000) up to maxMs (default 300000); CIC's Retry-After wins when longer. */
  retry?: { baseMs: number, maxMs: number }
  /** How long delivered (and set-aside) status records stay readable; default 7 days. */
  keepSettledMs?: number
  /**
   * After a restart, how long to wait before reconciling a delivery whose upload may have
   * been in flight (CIC may still be storing a body the dead process sent); default 2000.
   */
  reconcileDelayMs?: number
  /** The directory lock's heartbeat and staleness (lock.ts); defaults 10 s and 60 s. */
  lock?: LockOptions
}

export interface AcceptRequest {
  caller: string
  mailbox: string
  filename: string
  source: Readable
  /** Content-Length, when the caller sent one: checked against the capacity before a byte is read. */
  expectedLength?: number
  /** The largest document accepted (MAX_BODY_BYTES). */
  maxBytes: number
  idempotencyKey?: string
}

export interface ListOptions {
  limit: number
  /** The last id of the previous page. */
  after?: string
}

/** What open() found on disk. */
export interface RecoveryReport {
  queued: number
  /** Deliveries whose upload may have started: reconciled before they are sent again. */
  reconciling: number
  failed: number
  settled: number
  /** Unacknowledged leftovers of interrupted accepts (tmp/, bodies without a record), removed. */
  discarded: number
  /** Files set aside in corrupt/, never uploaded. */
  corrupt: Array<{ file: string, id?: string, reason: string }>
}

/** The outbox is full: nothing is accepted that cannot be kept. */
export class OutboxFullError extends Error {
  constructor (readonly maxBytes: number) {
    super(`the outbox holds its capacity of ${maxBytes} bytes`)
    this.name = 'OutboxFullError'
  }
}

/** The disk refused a write while storing (ENOSPC, EDQUOT, EIO...): the partial files were removed, nothing was accepted. */
export class OutboxStorageError extends Error {
  constructor (readonly code: string, cause: unknown) {
    super(`the outbox could not store the document (${code})`, { cause })
    this.name = 'OutboxStorageError'
  }
}

/** close() was called: no new documents are accepted. */
export class OutboxClosedError extends Error {
  constructor () {
    super('the outbox is shutting down')
    this.name = 'OutboxClosedError'
  }
}
