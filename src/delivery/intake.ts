// One document from a caller to CIC: the upload cap, the Idempotency-Key, the body, the
// upload, and the line that says what happened. The HTTP layer reads the request; every
// rule about delivering it lives here.
import { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { BodyIncompleteError, BodyTooLargeError, DigestMismatchError, SpoolError, type PreparedBody } from './body.js'
import type { ConcurrencyLimit } from './concurrency.js'
import { DeliveryFailure, toDeliveryFailure } from './failure.js'
import type { Idempotency, KeyClaim, Replay } from './idempotency.js'
import { OutboxClosedError, OutboxFullError, OutboxStorageError, type DeliveryStatus, type Outbox } from './outbox/index.js'
import type { CancelSignal, DeliveryReceipt, DeliveryService } from './service.js'

export interface Submission {
  /** '' when authentication is off. */
  caller: string
  mailbox: string
  idempotencyKey: string | undefined
  requestId: string
  /** Aborted when the caller hangs up: the upload to CIC stops at once. */
  signal: CancelSignal
  /**
   * Reads the document. `keep`: the body must be kept whole (in memory or spooled) so it
   * can be compared before anything is sent. Errors it throws that are not the body's own
   * (a bad filename, a malformed request) pass through unchanged.
   */
  read: (keep: boolean) => Promise<{ body: PreparedBody, filename: string }>
  /** Prefer: respond-async: keep it in the outbox and deliver it later (when there is an outbox). */
  async: boolean
}

export type SubmissionResult =
  | { kind: 'delivered', receipt: DeliveryReceipt }
  | { kind: 'replayed', replay: Extract<Replay, { how: 'stored' | 'reconciled' }> }
  /** In the outbox (fsynced): `repeated` when an earlier request with the key put it there. */
  | { kind: 'accepted', status: DeliveryStatus, repeated: boolean }

export interface IntakeOptions {
  delivery: DeliveryService
  uploads: ConcurrencyLimit
  idempotency: Idempotency
  logger: Logger
  /** Writes the delivery line (scalar fields only; see scalarLineLogger). */
  deliveryLog: Logger
  /** Store and forward, when enabled (OUTBOX_DIR, demo mode); opened after the intake. */
  outbox: () => Outbox | null
  maxBodyBytes: number
}

export class DocumentIntake {
  constructor (private readonly opts: IntakeOptions) {}

  async submit (sub: Submission): Promise<SubmissionResult> {
    // Load shedding: past the cap, refuse at once (the body is not read) instead of queueing.
    if (!this.opts.uploads.tryAcquire()) {
      throw new DeliveryFailure({ code: 'overloaded', detail: `the gateway is handling its maximum of ${this.opts.uploads.max} uploads; the document was not delivered and is safe to resend`, delivered: 'no', retryAfterSeconds: 1 })
    }
    let claim: KeyClaim | undefined
    let body: PreparedBody | undefined
    let filename: string | undefined
    try {
      // Claimed before the body is read, whatever the key's state: a concurrent repeat gets 409.
      // Per caller too: one caller cannot read another's receipt by guessing its key.
      if (sub.idempotencyKey !== undefined) claim = await this.opts.idempotency.begin({ scope: `${sub.caller}\u0000${sub.mailbox}\u0000${sub.idempotencyKey}`, mailbox: sub.mailbox })
      const read = await sub.read(claim !== undefined)
      body = read.body
      filename = read.filename
      return await this.deliver(sub, claim, read.body, read.filename)
    } catch (err) {
      // Anything not the delivery's own (a caller mistake found while reading) is the caller's to answer.
      const failure = isDeliveryError(err) ? toDeliveryFailure(err, { replayable: body?.replayable ?? false }) : undefined
      await claim?.failed(failure?.delivered ?? 'no').catch(() => {})
      if (failure !== undefined) failure.filename ??= filename
      throw failure ?? err
    } finally {
      this.opts.uploads.release()
      await body?.cleanup()
    }
  }

  private async deliver (sub: Submission, claim: KeyClaim | undefined, body: PreparedBody, filename: string): Promise<SubmissionResult> {
    const started = process.hrtime.bigint()
    if (body.length === 0) throw new DeliveryFailure({ code: 'document-empty', detail: 'the document has no bytes; nothing was delivered', delivered: 'no' })
    const replay = await claim?.resolve(body, filename, async (m, name) => await this.opts.delivery.findDelivered(m, name, sub.requestId))
    if (replay?.how === 'accepted') return await this.acceptedBefore(sub, replay.deliveryId)
    if (replay !== undefined) {
      this.opts.logger.info({ requestId: sub.requestId, event: 'document.replayed', mailbox: sub.mailbox, filename, idempotencyKey: sub.idempotencyKey, how: replay.how, cicFileId: replay.fileId }, 'idempotent repeat answered without a new upload')
      return { kind: 'replayed', replay }
    }
    const outbox = sub.async ? this.opts.outbox() : null
    if (outbox !== null) return await this.keep(outbox, sub, claim, body, filename)
    const receipt = await this.opts.delivery.deliver({ mailbox: sub.mailbox, filename, body, requestId: sub.requestId, signal: sub.signal })
    if (claim !== undefined && !await claim.succeeded(receipt.raw)) {
      this.opts.logger.warn({ requestId: sub.requestId, event: 'idempotency.unrecorded', mailbox: sub.mailbox, filename, idempotencyKey: sub.idempotencyKey }, 'delivered, but the Idempotency-Key record could not be written: a repeat will reconcile with CIC')
    }
    this.opts.deliveryLog.info({
      requestId: sub.requestId,
      caller: sub.caller === '' ? undefined : sub.caller,
      event: 'document.delivered',
      mailbox: sub.mailbox,
      filename,
      bytes: receipt.bytes,
      cicFileId: receipt.fileId,
      sha256: receipt.sha256.toString('base64'),
      attempts: receipt.attempts,
      bodyMode: body.mode,
      idempotencyKey: sub.idempotencyKey,
      durationMs: Number(process.hrtime.bigint() - started) / 1e6
    }, 'document delivered')
    return { kind: 'delivered', receipt }
  }

  /** Store and forward: the document is on disk (fsynced) when this returns; the outbox delivers it. */
  private async keep (outbox: Outbox, sub: Submission, claim: KeyClaim | undefined, body: PreparedBody, filename: string): Promise<SubmissionResult> {
    const bytes = body.open()
    const status = await outbox.accept({
      caller: sub.caller,
      mailbox: sub.mailbox,
      filename,
      source: Buffer.isBuffer(bytes) ? Readable.from([bytes]) : bytes,
      expectedLength: body.length,
      maxBytes: this.opts.maxBodyBytes,
      idempotencyKey: sub.idempotencyKey
    }).catch((err: unknown) => { throw outboxFailure(err) })
    if (claim !== undefined && !await claim.accepted(status.id)) {
      this.opts.logger.warn({ requestId: sub.requestId, event: 'idempotency.unrecorded', mailbox: sub.mailbox, filename, idempotencyKey: sub.idempotencyKey, deliveryId: status.id }, 'accepted, but the Idempotency-Key record could not be written')
    }
    this.opts.logger.info({ requestId: sub.requestId, event: 'document.accepted', mailbox: sub.mailbox, filename, bytes: status.bytes, sha256: status.sha256, deliveryId: status.id, idempotencyKey: sub.idempotencyKey }, 'document accepted into the outbox')
    return { kind: 'accepted', status, repeated: false }
  }

  /** A repeat of a key whose document is in the outbox: that delivery, never a second copy. */
  private async acceptedBefore (sub: Submission, id: string): Promise<SubmissionResult> {
    const status = await this.opts.outbox()?.get(id, sub.caller)
    if (status === undefined) {
      throw new DeliveryFailure({ code: 'outbox-unavailable', detail: 'this Idempotency-Key belongs to a document accepted into an outbox this gateway does not hold (another pod, or its volume was lost); nothing was sent', delivered: 'unknown', retryAfterSeconds: 30 })
    }
    return { kind: 'accepted', status, repeated: true }
  }
}

function outboxFailure (err: unknown): unknown {
  if (err instanceof OutboxFullError) return new DeliveryFailure({ code: 'outbox-full', detail: 'the outbox holds its capacity (OUTBOX_MAX_BYTES); the document was not accepted and is safe to resend later', delivered: 'no', retryAfterSeconds: 30, cause: err })
  if (err instanceof OutboxStorageError || err instanceof OutboxClosedError) return new DeliveryFailure({ code: 'outbox-unavailable', detail: 'the outbox could not store the document; it was not accepted and is safe to resend', delivered: 'no', retryAfterSeconds: 5, cause: err })
  return err
}

/** Errors of the delivery layer itself (the body, the store, CIC), as opposed to the caller's request. */
function isDeliveryError (err: unknown): boolean {
  return err instanceof DeliveryFailure || err instanceof BodyTooLargeError || err instanceof BodyIncompleteError || err instanceof DigestMismatchError || err instanceof SpoolError
}
