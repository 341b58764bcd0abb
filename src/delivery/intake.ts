// One document from a caller to CIC: the upload cap, the Idempotency-Key, the body, the
// upload, and the line that says what happened. The HTTP layer reads the request; every
// rule about delivering it lives here.
import type { Logger } from 'pino'
import { BodyIncompleteError, BodyTooLargeError, DigestMismatchError, SpoolError, type PreparedBody } from './body.js'
import type { ConcurrencyLimit } from './concurrency.js'
import { DeliveryFailure, toDeliveryFailure } from './failure.js'
import type { Idempotency, KeyClaim, Replay } from './idempotency.js'
import type { DeliveryReceipt, DeliveryService } from './service.js'

export interface Submission {
  /** '' when authentication is off. */
  caller: string
  mailbox: string
  idempotencyKey: string | undefined
  requestId: string
  /** Aborted when the caller hangs up: the upload to CIC stops at once. */
  signal: AbortSignal
  /**
   * Reads the document. `keep`: the body must be kept whole (in memory or spooled) so it
   * can be compared before anything is sent. Errors it throws that are not the body's own
   * (a bad filename, a malformed request) pass through unchanged.
   */
  read: (keep: boolean) => Promise<{ body: PreparedBody, filename: string }>
}

export type SubmissionResult =
  | { kind: 'delivered', receipt: DeliveryReceipt }
  | { kind: 'replayed', replay: Replay }

export interface IntakeOptions {
  delivery: DeliveryService
  uploads: ConcurrencyLimit
  idempotency: Idempotency
  logger: Logger
  /** Writes the delivery line (scalar fields only; see scalarLineLogger). */
  deliveryLog: Logger
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
    if (replay !== undefined) {
      this.opts.logger.info({ requestId: sub.requestId, event: 'document.replayed', mailbox: sub.mailbox, filename, idempotencyKey: sub.idempotencyKey, how: replay.how, cicFileId: replay.fileId }, 'idempotent repeat answered without a new upload')
      return { kind: 'replayed', replay }
    }
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
}

/** Errors of the delivery layer itself (the body, the store, CIC), as opposed to the caller's request. */
function isDeliveryError (err: unknown): boolean {
  return err instanceof DeliveryFailure || err instanceof BodyTooLargeError || err instanceof BodyIncompleteError || err instanceof DigestMismatchError || err instanceof SpoolError
}
