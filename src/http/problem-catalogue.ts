// Every problem type the gateway can answer, each declared once: its HTTP status and its
// title. Delivery outcomes get their titles from the delivery layer (which knows no HTTP)
// and their statuses here; the rest are the HTTP layer's own refusals.
import { DELIVERY_OUTCOMES, type DeliveryCode } from '../delivery/failure.js'

/** The status each delivery outcome is answered with. */
const DELIVERY_STATUS: Record<DeliveryCode, number> = {
  'document-empty': 400,
  'document-incomplete': 400,
  'digest-mismatch': 400,
  'cic-file-exists': 409,
  'idempotency-key-in-use': 409,
  'document-too-large': 413,
  'cic-file-too-large': 413,
  'idempotency-key-reused': 422,
  'internal-error': 500,
  'cic-tls-untrusted': 502,
  'cic-login-failed': 502,
  'cic-folder-lookup-failed': 502,
  'cic-rejected': 502,
  'cic-error': 502,
  'cic-connection-lost': 502,
  'cic-bad-response': 502,
  'circuit-open': 503,
  'spool-unavailable': 503,
  'cic-unreachable': 503,
  aborted: 503,
  'cic-unavailable': 503,
  'cic-rate-limited': 503,
  'token-revoked-not-replayable': 503,
  overloaded: 503,
  'idempotency-store-full': 503,
  'idempotency-store-unavailable': 503,
  'reconciliation-failed': 503,
  'outbox-full': 503,
  'outbox-unavailable': 503,
  'cic-timeout': 504
}

/** Refusals of the HTTP layer: the request itself, the caller, the route, the gateway's state. */
const HTTP_PROBLEMS = {
  'bad-request': { status: 400, title: 'Bad request' },
  'bad-url': { status: 400, title: 'Malformed URL' },
  'malformed-request': { status: 400, title: 'Malformed request' },
  'authorization-duplicated': { status: 400, title: 'More than one Authorization header' },
  'filename-missing': { status: 400, title: 'Filename missing' },
  'filename-invalid': { status: 400, title: 'Invalid filename' },
  'content-disposition-invalid': { status: 400, title: 'Invalid Content-Disposition' },
  'digest-invalid': { status: 400, title: 'Invalid digest header' },
  'idempotency-key-invalid': { status: 400, title: 'Invalid Idempotency-Key' },
  'multipart-invalid': { status: 400, title: 'Invalid multipart request' },
  'multipart-no-file': { status: 400, title: 'No file part' },
  'multipart-too-many-files': { status: 400, title: 'More than one file part' },
  'multipart-too-many-parts': { status: 400, title: 'Too many multipart parts' },
  'multipart-too-many-fields': { status: 400, title: 'Too many multipart fields' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  'mailbox-forbidden': { status: 403, title: 'Mailbox not allowed' },
  'not-found': { status: 404, title: 'Not found' },
  'mailbox-not-found': { status: 404, title: 'Unknown mailbox' },
  'no-default-mailbox': { status: 404, title: 'No default mailbox' },
  'delivery-not-found': { status: 404, title: 'Unknown delivery' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'request-timeout': { status: 408, title: 'Request timeout' },
  'delivery-not-failed': { status: 409, title: 'Delivery not failed' },
  'multipart-field-too-large': { status: 413, title: 'Multipart field too large' },
  'uri-too-long': { status: 414, title: 'URI too long' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'headers-too-large': { status: 431, title: 'Request headers too large' },
  'method-not-implemented': { status: 501, title: 'Method not implemented' },
  'shutting-down': { status: 503, title: 'Shutting down' },
  'not-ready': { status: 503, title: 'Not ready' },
  'handler-timeout': { status: 503, title: 'Request took too long' },
  'delivery-status-unavailable': { status: 503, title: 'Delivery status store unavailable' },
  'delivery-owner-unavailable': { status: 503, title: 'Delivery owner unavailable' }
} as const satisfies Record<string, ProblemType>

export interface ProblemType {
  status: number
  title: string
}

export type ProblemCode = DeliveryCode | keyof typeof HTTP_PROBLEMS

/** The whole catalogue: every code, its status and its title. */
export const PROBLEM_TYPES: Readonly<Record<ProblemCode, ProblemType>> = {
  ...HTTP_PROBLEMS,
  ...Object.fromEntries(Object.entries(DELIVERY_STATUS).map(([code, status]) => [code, { status, title: DELIVERY_OUTCOMES[code as DeliveryCode] }]))
} as Record<ProblemCode, ProblemType>

/** For the catalogue test: the codes each part declares (none may appear in both). */
export const DECLARED = { delivery: Object.keys(DELIVERY_STATUS), http: Object.keys(HTTP_PROBLEMS) }
