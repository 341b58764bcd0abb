// What a failed delivery means: a stable code, whether CIC holds the document ('no' = safe
// to resend, 'unknown' = check before resending), and when to retry.
import { CicError } from '../cic/errors.js'
import { CircuitOpenError } from '../cic/mailbox.js'
import { BodyIncompleteError, BodyTooLargeError, DigestMismatchError, SpoolError } from './body.js'

export type Delivered = 'no' | 'unknown'

/**
 * Every way a delivery can end without CIC's 201, with its title. What the caller is
 * answered (an HTTP status) is the HTTP layer's decision (src/http/problem-catalogue.ts).
 */
export const DELIVERY_OUTCOMES = {
  'circuit-open': 'CIC failing, circuit open',
  'document-empty': 'Empty document',
  'document-too-large': 'Document too large',
  'document-incomplete': 'Document body incomplete',
  'digest-mismatch': 'Digest mismatch',
  'spool-unavailable': 'Gateway cannot buffer the document',
  'internal-error': 'Internal error',
  'cic-unreachable': 'CIC unreachable',
  'cic-timeout': 'CIC timed out',
  'cic-connection-lost': 'Connection to CIC lost',
  'cic-bad-response': 'Unexpected answer from CIC',
  aborted: 'Delivery aborted',
  'cic-tls-untrusted': 'CIC certificate not trusted',
  'cic-unavailable': 'CIC unavailable',
  'cic-rate-limited': 'CIC rate limit',
  'cic-error': 'CIC failed',
  'cic-login-failed': 'CIC login failed',
  'cic-folder-lookup-failed': 'CIC folder lookup failed',
  'token-revoked-not-replayable': 'CIC token revoked during a streamed upload',
  'cic-file-exists': 'CIC already holds a file of that name',
  'cic-file-too-large': 'CIC refused the document size',
  'cic-rejected': 'CIC rejected the document',
  overloaded: 'Too many uploads in progress',
  'idempotency-key-in-use': 'Request with this Idempotency-Key in progress',
  'idempotency-key-reused': 'Idempotency-Key reused with another document',
  'idempotency-store-full': 'Idempotency-Key store full',
  'idempotency-store-unavailable': 'Idempotency-Key store unavailable',
  'reconciliation-failed': 'Cannot settle the earlier attempt',
  'outbox-full': 'Outbox full',
  'outbox-unavailable': 'Outbox cannot store the document'
} as const

export type DeliveryCode = keyof typeof DELIVERY_OUTCOMES

export interface DeliveryFailureInit {
  code: DeliveryCode
  detail: string
  delivered: Delivered
  retryAfterSeconds?: number
  upstreamStatus?: number
  cause?: unknown
}

/** A delivery that ended without CIC's 201: what happened, whether CIC may hold it, when to retry. */
export class DeliveryFailure extends Error {
  readonly code: DeliveryCode
  readonly delivered: Delivered
  readonly retryAfterSeconds: number | undefined
  readonly upstreamStatus: number | undefined
  /** The document's filename, once it was read (for the failure's log line). */
  filename: string | undefined

  constructor (init: DeliveryFailureInit) {
    super(init.detail, { cause: init.cause })
    this.name = 'DeliveryFailure'
    this.code = init.code
    this.delivered = init.delivered
    this.retryAfterSeconds = init.retryAfterSeconds
    this.upstreamStatus = init.upstreamStatus
  }

  get title (): string {
    return DELIVERY_OUTCOMES[this.code]
  }
}

const OPERATION_NAMES = { login: 'the login', folders: 'the home-folder lookup', children: 'the upload-folder lookup', upload: 'the upload' }

/** Maps anything thrown while preparing or delivering a document to a DeliveryFailure. */
export function toDeliveryFailure (err: unknown, opts: { replayable: boolean }): DeliveryFailure {
  if (err instanceof DeliveryFailure) return err
  if (err instanceof CircuitOpenError) {
    return new DeliveryFailure({ code: 'circuit-open', detail: `${err.message}; the document was not delivered and is safe to resend after the Retry-After delay`, delivered: 'no', retryAfterSeconds: err.retryAfterSeconds, cause: err })
  }
  // A body error surfaces wrapped when it broke the stream CIC was reading.
  const bodyError = findCause(err, e => e instanceof DigestMismatchError || e instanceof BodyIncompleteError)
  if (bodyError !== undefined && !(err instanceof BodyIncompleteError) && !(err instanceof DigestMismatchError)) return toDeliveryFailure(bodyError, opts)
  if (err instanceof BodyTooLargeError) {
    return new DeliveryFailure({ code: 'document-too-large', detail: err.message, delivered: 'no', cause: err })
  }
  if (err instanceof BodyIncompleteError) {
    return new DeliveryFailure({ code: 'document-incomplete', detail: err.message, delivered: 'no', cause: err })
  }
  if (err instanceof DigestMismatchError) {
    return new DeliveryFailure({ code: 'digest-mismatch', detail: `${err.message}; nothing was delivered`, delivered: 'no', cause: err })
  }
  if (err instanceof SpoolError) {
    return new DeliveryFailure({ code: 'spool-unavailable', detail: `${err.message}; it was not delivered and is safe to resend`, delivered: 'no', retryAfterSeconds: 5, cause: err })
  }
  if (!(err instanceof CicError)) {
    return new DeliveryFailure({ code: 'internal-error', detail: 'the gateway failed unexpectedly; whether CIC holds the document is unknown', delivered: 'unknown', cause: err })
  }
  return fromCicError(err, opts.replayable)
}

function findCause (err: unknown, test: (e: unknown) => boolean): unknown {
  let e: unknown = err
  for (let depth = 0; depth < 5 && e !== undefined && e !== null; depth++) {
    if (test(e)) return e
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

function fromCicError (err: CicError, replayable: boolean): DeliveryFailure {
  const upload = err.operation === 'upload'
  const step = OPERATION_NAMES[err.operation]
  // Before the upload call nothing can have been stored.
  const unknownIfUpload: Delivered = upload ? 'unknown' : 'no'
  const base = { upstreamStatus: err.status, cause: err }
  switch (err.kind) {
    case 'unreachable':
      return new DeliveryFailure({ ...base, code: 'cic-unreachable', detail: `CIC could not be reached during ${step}; the document was not delivered and is safe to resend`, delivered: 'no', retryAfterSeconds: 5 })
    case 'timeout':
      return new DeliveryFailure({ ...base, code: 'cic-timeout', detail: `CIC did not answer in time during ${step}${upload ? '; CIC may hold the document: check before resending, or resend with the same Idempotency-Key' : '; the document was not delivered and is safe to resend'}`, delivered: unknownIfUpload })
    case 'connection-lost':
    case 'protocol':
      return new DeliveryFailure({ ...base, code: err.kind === 'protocol' ? 'cic-bad-response' : 'cic-connection-lost', detail: `${err.message}${upload ? '; CIC may hold the document: check before resending, or resend with the same Idempotency-Key' : '; the document was not delivered'}`, delivered: unknownIfUpload })
    case 'aborted':
      return new DeliveryFailure({ ...base, code: 'aborted', detail: 'the delivery was aborted before CIC confirmed it', delivered: unknownIfUpload })
    case 'body':
      return new DeliveryFailure({ ...base, code: 'document-incomplete', detail: err.message, delivered: 'no' })
    case 'tls':
      return new DeliveryFailure({ ...base, code: 'cic-tls-untrusted', detail: `${err.message} during ${step}; nothing was sent. Behind a TLS-inspecting proxy, set CIC_CA_FILE to its CA bundle`, delivered: 'no' })
    case 'status':
      return fromCicStatus(err, replayable, step)
  }
}

function fromCicStatus (err: CicError, replayable: boolean, step: string): DeliveryFailure {
  const status = err.status ?? 0
  const base = { upstreamStatus: status, cause: err }
  if (status === 429 || status === 503) {
    return new DeliveryFailure({ ...base, code: status === 429 ? 'cic-rate-limited' : 'cic-unavailable', detail: `CIC answered ${status} to ${step}; the document was not delivered and is safe to resend after the Retry-After delay`, delivered: 'no', retryAfterSeconds: err.retryAfterSeconds ?? 5 })
  }
  if (err.operation !== 'upload' && status >= 500) {
    return new DeliveryFailure({ ...base, code: 'cic-error', detail: `CIC answered ${status} to ${step}; the document was not delivered and is safe to resend`, delivered: 'no' })
  }
  if (err.operation === 'login') {
    return new DeliveryFailure({ ...base, code: 'cic-login-failed', detail: `CIC refused the gateway's login (status ${status}): check the mailbox credentials; the document was not delivered`, delivered: 'no' })
  }
  if (err.operation !== 'upload') {
    return new DeliveryFailure({ ...base, code: 'cic-folder-lookup-failed', detail: `CIC answered ${status} to ${step}; the document was not delivered`, delivered: 'no' })
  }
  if (status === 401 && !replayable) {
    return new DeliveryFailure({ ...base, code: 'token-revoked-not-replayable', detail: 'CIC rejected the gateway\'s token while the document streamed; the token was renewed, but a streamed body cannot be replayed: the document was not delivered and is safe to resend', delivered: 'no', retryAfterSeconds: 1 })
  }
  if (status === 409) {
    return new DeliveryFailure({ ...base, code: 'cic-file-exists', detail: 'CIC refused the upload because a file of that name exists in the upload folder; the document was not delivered', delivered: 'no' })
  }
  if (status === 413) {
    return new DeliveryFailure({ ...base, code: 'cic-file-too-large', detail: 'CIC answered 413: the document is larger than the mailbox accepts; it was not delivered', delivered: 'no' })
  }
  if (status >= 400 && status < 500) {
    return new DeliveryFailure({ ...base, code: 'cic-rejected', detail: `CIC answered ${status} to the upload (the mailbox may restrict file names or types); the document was not delivered`, delivered: 'no' })
  }
  return new DeliveryFailure({ ...base, code: 'cic-error', detail: `CIC answered ${status} to the upload; CIC may hold the document: check before resending, or resend with the same Idempotency-Key`, delivered: 'unknown' })
}
