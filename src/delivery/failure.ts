// What a failed delivery means for the caller: a stable code, the HTTP status we answer,
// and whether CIC holds the document ('no' = safe to resend, 'unknown' = check before resending).
import { CicError } from '../cic/errors.js'
import { CircuitOpenError } from '../cic/mailbox.js'
import { BodyIncompleteError, BodyTooLargeError, DigestMismatchError, SpoolError } from './body.js'

export type Delivered = 'no' | 'unknown'

export interface DeliveryFailureInit {
  code: string
  status: number
  title: string
  detail: string
  delivered: Delivered
  retryAfterSeconds?: number
  upstreamStatus?: number
  cause?: unknown
}

export class DeliveryFailure extends Error {
  readonly code: string
  readonly status: number
  readonly title: string
  readonly delivered: Delivered
  readonly retryAfterSeconds: number | undefined
  readonly upstreamStatus: number | undefined

  constructor (init: DeliveryFailureInit) {
    super(init.detail, { cause: init.cause })
    this.name = 'DeliveryFailure'
    this.code = init.code
    this.status = init.status
    this.title = init.title
    this.delivered = init.delivered
    this.retryAfterSeconds = init.retryAfterSeconds
    this.upstreamStatus = init.upstreamStatus
  }
}

const OPERATION_NAMES = { login: 'the login', folders: 'the home-folder lookup', children: 'the upload-folder lookup', upload: 'the upload' }

/** Maps anything thrown while preparing or delivering a document to a DeliveryFailure. */
export function toDeliveryFailure (err: unknown, opts: { replayable: boolean }): DeliveryFailure {
  if (err instanceof DeliveryFailure) return err
  if (err instanceof CircuitOpenError) {
    return new DeliveryFailure({ code: 'circuit-open', status: 503, title: 'CIC failing, circuit open', detail: `${err.message}; the document was not delivered and is safe to resend after the Retry-After delay`, delivered: 'no', retryAfterSeconds: err.retryAfterSeconds, cause: err })
  }
  // A body error surfaces wrapped when it broke the stream CIC was reading.
  const bodyError = findCause(err, e => e instanceof DigestMismatchError || e instanceof BodyIncompleteError)
  if (bodyError !== undefined && !(err instanceof BodyIncompleteError) && !(err instanceof DigestMismatchError)) return toDeliveryFailure(bodyError, opts)
  if (err instanceof BodyTooLargeError) {
    return new DeliveryFailure({ code: 'document-too-large', status: 413, title: 'Document too large', detail: err.message, delivered: 'no', cause: err })
  }
  if (err instanceof BodyIncompleteError) {
    return new DeliveryFailure({ code: 'document-incomplete', status: 400, title: 'Document body incomplete', detail: err.message, delivered: 'no', cause: err })
  }
  if (err instanceof DigestMismatchError) {
    return new DeliveryFailure({ code: 'digest-mismatch', status: 400, title: 'Digest mismatch', detail: `${err.message}; nothing was delivered`, delivered: 'no', cause: err })
  }
  if (err instanceof SpoolError) {
    return new DeliveryFailure({ code: 'spool-unavailable', status: 503, title: 'Gateway cannot buffer the document', detail: `${err.message}; it was not delivered and is safe to resend`, delivered: 'no', retryAfterSeconds: 5, cause: err })
  }
  if (!(err instanceof CicError)) {
    return new DeliveryFailure({ code: 'internal-error', status: 500, title: 'Internal error', detail: 'the gateway failed unexpectedly; whether CIC holds the document is unknown', delivered: 'unknown', cause: err })
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
      return new DeliveryFailure({ ...base, code: 'cic-unreachable', status: 503, title: 'CIC unreachable', detail: `CIC could not be reached during ${step}; the document was not delivered and is safe to resend`, delivered: 'no', retryAfterSeconds: 5 })
    case 'timeout':
      return new DeliveryFailure({ ...base, code: 'cic-timeout', status: 504, title: 'CIC timed out', detail: `CIC did not answer in time during ${step}${upload ? '; CIC may hold the document: check before resending, or resend with the same Idempotency-Key' : '; the document was not delivered and is safe to resend'}`, delivered: unknownIfUpload })
    case 'connection-lost':
    case 'protocol':
      return new DeliveryFailure({ ...base, code: err.kind === 'protocol' ? 'cic-bad-response' : 'cic-connection-lost', status: 502, title: err.kind === 'protocol' ? 'Unexpected answer from CIC' : 'Connection to CIC lost', detail: `${err.message}${upload ? '; CIC may hold the document: check before resending, or resend with the same Idempotency-Key' : '; the document was not delivered'}`, delivered: unknownIfUpload })
    case 'aborted':
      return new DeliveryFailure({ ...base, code: 'aborted', status: 503, title: 'Delivery aborted', detail: 'the delivery was aborted before CIC confirmed it', delivered: unknownIfUpload })
    case 'body':
      return new DeliveryFailure({ ...base, code: 'document-incomplete', status: 400, title: 'Document body incomplete', detail: err.message, delivered: 'no' })
    case 'tls':
      return new DeliveryFailure({ ...base, code: 'cic-tls-untrusted', status: 502, title: 'CIC certificate not trusted', detail: `${err.message} during ${step}; nothing was sent. Behind a TLS-inspecting proxy, set CIC_CA_FILE to its CA bundle`, delivered: 'no' })
    case 'status':
      return fromCicStatus(err, replayable, step)
  }
}

function fromCicStatus (err: CicError, replayable: boolean, step: string): DeliveryFailure {
  const status = err.status ?? 0
  const base = { upstreamStatus: status, cause: err }
  if (status === 429 || status === 503) {
    return new DeliveryFailure({ ...base, code: status === 429 ? 'cic-rate-limited' : 'cic-unavailable', status: 503, title: status === 429 ? 'CIC rate limit' : 'CIC unavailable', detail: `CIC answered ${status} to ${step}; the document was not delivered and is safe to resend after the Retry-After delay`, delivered: 'no', retryAfterSeconds: err.retryAfterSeconds ?? 5 })
  }
  if (err.operation !== 'upload' && status >= 500) {
    return new DeliveryFailure({ ...base, code: 'cic-error', status: 502, title: 'CIC failed', detail: `CIC answered ${status} to ${step}; the document was not delivered and is safe to resend`, delivered: 'no' })
  }
  if (err.operation === 'login') {
    return new DeliveryFailure({ ...base, code: 'cic-login-failed', status: 502, title: 'CIC login failed', detail: `CIC refused the gateway's login (status ${status}): check the mailbox credentials; the document was not delivered`, delivered: 'no' })
  }
  if (err.operation !== 'upload') {
    return new DeliveryFailure({ ...base, code: 'cic-folder-lookup-failed', status: 502, title: 'CIC folder lookup failed', detail: `CIC answered ${status} to ${step}; the document was not delivered`, delivered: 'no' })
  }
  if (status === 401 && !replayable) {
    return new DeliveryFailure({ ...base, code: 'token-revoked-not-replayable', status: 503, title: 'CIC token revoked during a streamed upload', detail: 'CIC rejected the gateway\'s token while the document streamed; the token was renewed, but a streamed body cannot be replayed: the document was not delivered and is safe to resend', delivered: 'no', retryAfterSeconds: 1 })
  }
  if (status === 409) {
    return new DeliveryFailure({ ...base, code: 'cic-file-exists', status: 409, title: 'CIC already holds a file of that name', detail: 'CIC refused the upload because a file of that name exists in the upload folder; the document was not delivered', delivered: 'no' })
  }
  if (status === 413) {
    return new DeliveryFailure({ ...base, code: 'cic-file-too-large', status: 413, title: 'CIC refused the document size', detail: 'CIC answered 413: the document is larger than the mailbox accepts; it was not delivered', delivered: 'no' })
  }
  if (status >= 400 && status < 500) {
    return new DeliveryFailure({ ...base, code: 'cic-rejected', status: 502, title: 'CIC rejected the document', detail: `CIC answered ${status} to the upload (the mailbox may restrict file names or types); the document was not delivered`, delivered: 'no' })
  }
  return new DeliveryFailure({ ...base, code: 'cic-error', status: 502, title: 'CIC failed', detail: `CIC answered ${status} to the upload; CIC may hold the document: check before resending, or resend with the same Idempotency-Key`, delivered: 'unknown' })
}
