// Typed failures of calls to CIC. They say what happened on the wire; deciding what a
// caller of the gateway is told is the delivery layer's job.
import { UploadBodyError } from './body.js'

export type CicOperation = 'login' | 'folders' | 'children' | 'upload'

export type CicErrorKind =
  /** No connection could be made (refused, DNS, connect timeout): CIC saw nothing. */
  | 'unreachable'
  /** CIC did not answer in time after the request was (perhaps partly) sent. */
  | 'timeout'
  /** The connection broke after the request started: CIC may or may not have acted. */
  | 'connection-lost'
  /** CIC answered with a non-success status. */
  | 'status'
  /** CIC answered 2xx but the answer is not what the API promises (e.g. truncated JSON). */
  | 'protocol'
  /** We aborted the call ourselves (the caller went away, or shutdown). */
  | 'aborted'
  /** The request body we were given could not be read completely. */
  | 'body'
  /** CIC's TLS certificate was not trusted: nothing was sent. Verification is never turned off. */
  | 'tls'

export class CicError extends Error {
  readonly kind: CicErrorKind
  readonly operation: CicOperation
  /** CIC's HTTP status, for kind 'status'. */
  readonly status: number | undefined
  /** Seconds from CIC's Retry-After header, when it sent one. */
  readonly retryAfterSeconds: number | undefined
  readonly code: string | undefined

  constructor (opts: {
    kind: CicErrorKind
    operation: CicOperation
    message: string
    status?: number
    retryAfterSeconds?: number
    code?: string
    cause?: unknown
  }) {
    super(opts.message, { cause: opts.cause })
    this.name = 'CicError'
    this.kind = opts.kind
    this.operation = opts.operation
    this.status = opts.status
    this.retryAfterSeconds = opts.retryAfterSeconds
    this.code = opts.code
  }
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'])
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])
const ABORT_CODES = new Set(['UND_ERR_ABORTED', 'ABORT_ERR'])
const BODY_CODES = new Set(['UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'])
const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'UND_ERR_PRX_TLS'
])

function errorCode (err: unknown): string | undefined {
  let e: unknown = err
  // undici wraps the socket error in `cause` for some failures.
  for (let depth = 0; depth < 3 && e !== null && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') return code
    e = (e as { cause?: unknown }).cause
  }
  if (err instanceof Error && err.name === 'AbortError') return 'ABORT_ERR'
  return undefined
}

/** Classifies an exception thrown by undici (or by a body stream) during a CIC call. */
export function fromTransportError (err: unknown, operation: CicOperation, signal?: { readonly aborted: boolean }): CicError {
  if (err instanceof CicError) return err
  // The body stream we were given broke (caller gone, digest mismatch): not CIC's fault.
  if (err instanceof UploadBodyError) {
    return new CicError({ kind: 'body', operation, message: (err as Error).message, cause: err })
  }
  const code = errorCode(err)
  if (signal?.aborted === true || (code !== undefined && ABORT_CODES.has(code))) {
    return new CicError({ kind: 'aborted', operation, message: `${operation} aborted`, code, cause: err })
  }
  if (code !== undefined && UNREACHABLE_CODES.has(code)) {
    return new CicError({ kind: 'unreachable', operation, message: `CIC unreachable during ${operation} (${code})`, code, cause: err })
  }
  if (code !== undefined && TLS_CODES.has(code)) {
    return new CicError({ kind: 'tls', operation, message: `CIC's TLS certificate is not trusted (${code})`, code, cause: err })
  }
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return new CicError({ kind: 'timeout', operation, message: `CIC timed out during ${operation} (${code})`, code, cause: err })
  }
  if (code !== undefined && BODY_CODES.has(code)) {
    return new CicError({ kind: 'body', operation, message: 'the document body ended before its declared length', code, cause: err })
  }
  return new CicError({ kind: 'connection-lost', operation, message: `connection to CIC lost during ${operation}${code !== undefined ? ` (${code})` : ''}`, code, cause: err })
}

/** Parses Retry-After (seconds or HTTP date) into whole seconds, capped to something sane. */
export function parseRetryAfter (value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value
  if (v === undefined || v === '') return undefined
  if (/^\d+$/.test(v.trim())) return Math.min(Number(v.trim()), 3600)
  const date = Date.parse(v)
  if (Number.isNaN(date)) return undefined
  return Math.min(Math.max(0, Math.ceil((date - now) / 1000)), 3600)
}
