// The Idempotency-Key state machine (IETF draft "The Idempotency-Key HTTP Header Field"):
// a keyed request is delivered once. Every request with a key claims it atomically in the
// store, whatever state its record is in, so concurrent resends make at most one upload;
// the rest get in-use or the settled answer. The store (memory or Redis) makes each step
// atomic; this module decides what the steps are.
import { createHash, randomUUID } from 'node:crypto'
import type { PreparedBody } from './body.js'
import { DeliveryFailure } from './failure.js'
import type { AnsweredRecord, Attempt, IdempotencyStore, SettledRecord } from './idempotency-store.js'

export class IdempotencyStoreUnavailableError extends Error {
  constructor (cause: unknown) {
    super('the Idempotency-Key store cannot be reached', { cause })
    this.name = 'IdempotencyStoreUnavailableError'
  }
}

/** What a repeat is answered with instead of a new upload. */
export type Replay =
  /** 'stored': the recorded 201; 'reconciled': found in CIC after an unknown outcome. */
  | { how: 'stored' | 'reconciled', raw: Buffer, sha256: Buffer, fileId?: string }
  /** Accepted into the outbox before: that delivery, not a second one. */
  | { how: 'accepted', deliveryId: string, sha256: Buffer }

export interface KeyedRequest {
  /** Caller, mailbox and key: one caller cannot read another's receipt by guessing its key. */
  scope: string
  mailbox: string
}

/** Looks in the mailbox's upload folder for a file of that name (today's reconciliation). */
export type FindDelivered = (mailbox: string, filename: string) => Promise<{ raw: Buffer, fileId: string } | undefined>

export interface IdempotencyOptions {
  store: IdempotencyStore
  /** How long a claim lives without renewal; renewed every third of it while the upload runs. */
  leaseMs: number
}

/** The fingerprint of a keyed request: mailbox, filename and body. Any difference is another request. */
export function fingerprint (mailbox: string, filename: string, bodySha256: Buffer): string {
  return createHash('sha256').update(mailbox).update('\u0000').update(filename).update('\u0000').update(bodySha256).digest('base64')
}

export class Idempotency {
  constructor (private readonly opts: IdempotencyOptions) {}

  /** Claims the key before the body is read; throws a DeliveryFailure when it cannot. */
  async begin (req: KeyedRequest): Promise<KeyClaim> {
    const owner = randomUUID()
    const claim = await storeCall(async () => await this.opts.store.claim(req.scope, owner, this.opts.leaseMs))
    switch (claim.outcome) {
      case 'in-use':
        throw new DeliveryFailure({ code: 'idempotency-key-in-use', detail: 'a request with the same Idempotency-Key is still being delivered; retry after it finishes', delivered: 'no', retryAfterSeconds: 1 })
      case 'full':
        throw new DeliveryFailure({ code: 'idempotency-store-full', detail: 'the gateway holds its maximum of Idempotency-Key records; nothing was delivered and the request is safe to resend later', delivered: 'no', retryAfterSeconds: 30 })
      case 'delivered':
        return new KeyClaim(this.opts, req, undefined, undefined, claim.record)
      case 'claimed':
        return new KeyClaim(this.opts, req, owner, claim.previous, undefined)
    }
  }
}

/**
 * One keyed request's hold on its key. `owner` is set while the key is claimed; a claim
 * is always settled (delivered, unknown, or freed) by exactly one of the methods below.
 */
export class KeyClaim {
  private renewal: NodeJS.Timeout | undefined
  private attempt: Attempt | undefined

  constructor (
    private readonly opts: IdempotencyOptions,
    private readonly req: KeyedRequest,
    private owner: string | undefined,
    /** An earlier attempt with an unknown outcome: reconcile before sending. */
    private readonly previous: Attempt | undefined,
    private readonly delivered: AnsweredRecord | undefined
  ) {
    if (owner !== undefined) this.keepLease()
  }

  /**
   * With the whole body read: the stored or reconciled answer for a repeat, or undefined
   * (deliver it now; the attempt is recorded first, so a lapsed lease leaves it unknown).
   */
  async resolve (body: PreparedBody, filename: string, findDelivered: FindDelivered): Promise<Replay | undefined> {
    const sha256 = body.sha256()
    if (sha256 === undefined) throw new Error('a keyed body is read whole before it is resolved')
    const attempt: Attempt = { fingerprint: fingerprint(this.req.mailbox, filename, sha256), filename, sha256: sha256.toString('base64') }
    if (this.delivered !== undefined) {
      if (this.delivered.attempt.fingerprint !== attempt.fingerprint) throw reused()
      if (this.delivered.state === 'accepted') return { how: 'accepted', deliveryId: this.delivered.deliveryId, sha256 }
      return { raw: Buffer.from(this.delivered.raw, 'base64'), sha256, how: 'stored' }
    }
    if (this.previous !== undefined) {
      if (this.previous.fingerprint !== attempt.fingerprint) throw reused()
      // The earlier attempt may have reached CIC: look in the upload folder before sending again.
      let found: { raw: Buffer, fileId: string } | undefined
      try {
        found = await findDelivered(this.req.mailbox, this.previous.filename)
      } catch (err) {
        throw new DeliveryFailure({ code: 'reconciliation-failed', detail: 'an earlier attempt with this Idempotency-Key had an unknown outcome and CIC cannot be asked now; nothing was sent, retry later with the same key', delivered: 'unknown', retryAfterSeconds: 5, cause: err })
      }
      if (found !== undefined) {
        await this.settle({ state: 'delivered', attempt, raw: found.raw.toString('base64') })
        return { raw: found.raw, sha256, how: 'reconciled', fileId: found.fileId }
      }
    }
    const stillOurs = await storeCall(async () => await this.opts.store.renew(this.req.scope, this.owner!, this.opts.leaseMs, attempt))
    if (!stillOurs) {
      this.stopLease()
      this.owner = undefined
      throw new DeliveryFailure({ code: 'idempotency-key-in-use', detail: 'this request lost its hold on the Idempotency-Key to a newer one; nothing was sent', delivered: 'no', retryAfterSeconds: 1 })
    }
    this.attempt = attempt
    return undefined
  }

  /**
   * CIC answered 201: later repeats get this answer. False when it could not be recorded
   * (store down, or the lease was lost): the claim then lapses to unknown and a repeat reconciles.
   */
  async succeeded (raw: Buffer): Promise<boolean> {
    if (this.attempt === undefined) return false
    return await this.settle({ state: 'delivered', attempt: this.attempt, raw: raw.toString('base64') }).catch(() => false)
  }

  /** Accepted into the outbox: later repeats get that delivery. */
  async accepted (deliveryId: string): Promise<boolean> {
    if (this.attempt === undefined) return false
    return await this.settle({ state: 'accepted', attempt: this.attempt, deliveryId }).catch(() => false)
  }

  /**
   * The request ended without a 201. 'unknown': CIC may hold the upload, a resend reconciles.
   * 'no': CIC holds nothing from this attempt; the key goes back to what it was before it.
   */
  async failed (delivered: 'no' | 'unknown'): Promise<void> {
    if (this.owner === undefined) return
    if (delivered === 'unknown' && this.attempt !== undefined) {
      await this.settle({ state: 'unknown', attempt: this.attempt })
    } else if (this.previous !== undefined && this.attempt === undefined) {
      // Never sent this time: the earlier attempt's outcome is still unknown.
      await this.settle({ state: 'unknown', attempt: this.previous })
    } else {
      await this.settle(undefined)
    }
  }

  private async settle (record: SettledRecord | undefined): Promise<boolean> {
    const owner = this.owner
    this.stopLease()
    this.owner = undefined
    if (owner === undefined) return false
    return await storeCall(async () => await this.opts.store.settle(this.req.scope, owner, record))
  }

  private keepLease (): void {
    const every = Math.max(250, Math.floor(this.opts.leaseMs / 3))
    this.renewal = setInterval(() => {
      const owner = this.owner
      if (owner === undefined) return
      this.opts.store.renew(this.req.scope, owner, this.opts.leaseMs).catch(() => {})
    }, every)
    this.renewal.unref()
  }

  private stopLease (): void {
    if (this.renewal !== undefined) clearInterval(this.renewal)
    this.renewal = undefined
  }
}

function reused (): DeliveryFailure {
  return new DeliveryFailure({ code: 'idempotency-key-reused', detail: 'this Idempotency-Key was used for a different request (mailbox, filename or body); nothing was delivered', delivered: 'no' })
}

async function storeCall<T> (call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    throw new DeliveryFailure({ code: 'idempotency-store-unavailable', detail: 'the gateway cannot reach its Idempotency-Key store; nothing was delivered and the request is safe to resend', delivered: 'no', retryAfterSeconds: 5, cause: new IdempotencyStoreUnavailableError(err) })
  }
}
