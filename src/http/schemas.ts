// JSON schemas of what the routes answer. They document the API (OpenAPI at /openapi.json,
// fuzzed by schemathesis in CI); problem+json bodies are sent as strings, so these schemas
// never strip a field from them.
import { MAILBOX_NAME_PATTERN } from '../config/keys.js'
import { PROBLEM_TYPES } from './problem-catalogue.js'
import { PROBLEM_CONTENT_TYPE, problemType } from './problems.js'

export const problemSchema = {
  type: 'object',
  description: 'RFC 9457 problem details',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string', description: 'urn:cic-gateway:problem:<code>', enum: Object.keys(PROBLEM_TYPES).map(problemType) },
    title: { type: 'string' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string' },
    instance: { type: 'string', description: 'the route pattern (never the raw path)' },
    requestId: { type: 'string' },
    delivered: { type: 'string', enum: ['no', 'unknown'], description: 'no: CIC does not hold the document (safe to resend); unknown: check before resending' },
    cicStatus: { type: 'integer', description: 'the HTTP status CIC answered' },
    retryAfterSeconds: { type: 'number', minimum: 0 }
  },
  additionalProperties: true
} as const

const requestIdHeader = { 'x-request-id': { type: 'string', description: 'the caller\'s X-Request-Id when well-formed, else a new id' } }

export function problemResponse (description: string, headers: Record<string, object> = {}): object {
  return {
    description,
    headers: { ...requestIdHeader, ...headers },
    content: { [PROBLEM_CONTENT_TYPE]: { schema: problemSchema } }
  }
}

export function jsonResponse (description: string, schema: object, headers: Record<string, object> = {}): object {
  return { description, headers: { ...requestIdHeader, ...headers }, content: { 'application/json': { schema } } }
}

/** CIC's file resource, relayed byte for byte. */
export const cicFileSchema = {
  type: 'object',
  description: 'the file resource CIC created, as CIC returned it',
  required: ['id', 'name'],
  properties: {
    space: { type: 'string' },
    subspace: { type: 'string' },
    id: { type: 'string' },
    parentId: { type: 'string' },
    name: { type: 'string' },
    length: { type: 'integer' },
    path: { type: 'array' },
    permissions: { type: 'array', items: { type: 'string' } },
    systemProtected: { type: 'object', additionalProperties: true },
    _links: { type: 'object', additionalProperties: true },
    meta: { type: 'object', additionalProperties: true }
  },
  additionalProperties: true
} as const

const retryAfter = { 'retry-after': { type: 'string', description: 'seconds' } }

const unauthorized = problemResponse('no or an unknown API key (`WWW-Authenticate: Bearer`); nothing was delivered', {
  'www-authenticate': { type: 'string' }
})
/** The 202 body: the document is in the outbox (stored and fsynced), its delivery follows. */
export const acceptedSchema = {
  type: 'object',
  description: 'the document is stored in the outbox (body and record fsynced) and will be delivered to CIC; GET the Location for its status',
  required: ['id', 'state', 'mailbox', 'filename', 'bytes', 'sha256', 'acceptedAt'],
  properties: {
    id: { type: 'string', description: 'the delivery id (GET /deliveries/{id})' },
    state: { type: 'string', enum: ['queued', 'delivering', 'delivered', 'failed'], description: 'queued for a new document; a repeat of an accepted Idempotency-Key answers the delivery\'s current state' },
    mailbox: { type: 'string' },
    filename: { type: 'string' },
    bytes: { type: 'integer', minimum: 0 },
    sha256: { type: 'string', description: 'SHA-256 of the stored document, base64' },
    acceptedAt: { type: 'string', format: 'date-time' }
  },
  additionalProperties: true
} as const

/** Every answer of a document route. */
export const documentResponses = {
  201: jsonResponse('delivered: CIC\'s 201 file resource, byte for byte', cicFileSchema, {
    'repr-digest': { type: 'string', description: 'RFC 9530 sha-256 of the document' }
  }),
  202: {
    ...jsonResponse('accepted (`Prefer: respond-async` with the outbox enabled): stored and fsynced in the outbox, delivered to CIC later, exactly once; without an outbox the preference is ignored and the answer is 201', acceptedSchema, {
      location: { type: 'string', description: '/deliveries/{id}: the delivery\'s status' },
      'preference-applied': { type: 'string', description: 'respond-async (RFC 7240)' }
    }),
    links: { getDelivery: { operationId: 'getDelivery', parameters: { id: '$response.body#/id' }, description: 'the delivery\'s status (the Location header)' } }
  },
  400: problemResponse('the request is wrong (filename, multipart shape, empty or incomplete body)'),
  401: unauthorized,
  403: problemResponse('the API key does not allow this mailbox; nothing was delivered'),
  404: problemResponse('unknown mailbox, or no default mailbox'),
  409: problemResponse('CIC refuses a same-name upload (cic-file-exists), or a request with the same Idempotency-Key is in progress, on this or another replica (idempotency-key-in-use: resend after Retry-After)', retryAfter),
  413: problemResponse('the document is larger than MAX_BODY_BYTES or CIC\'s limit (document-too-large, cic-file-too-large), or a multipart field is over its limit (multipart-field-too-large)'),
  415: problemResponse('unsupported media type'),
  422: problemResponse('the Idempotency-Key was used before with a different document, filename or mailbox (idempotency-key-reused); nothing was delivered'),
  500: problemResponse('the gateway failed unexpectedly'),
  502: problemResponse('CIC refused the credentials, the folder lookup or the upload, or failed after the body was sent'),
  503: problemResponse('CIC is unreachable or unavailable, or the gateway is overloaded or shutting down; safe to resend (delivered: no). Keyed requests also: the Idempotency-Key store (Redis) cannot be reached (idempotency-store-unavailable) or is full (idempotency-store-full), both safe to resend; an earlier attempt with the key had an unknown outcome and CIC cannot be asked now (reconciliation-failed, delivered: unknown: resend with the same key)', retryAfter),
  504: problemResponse('CIC did not answer in time')
}

export const documentQuerystring = {
  type: 'object',
  properties: { filename: { type: 'string', description: 'Filename in CIC; overrides Content-Disposition and the multipart part filename', examples: ['po_850.edi'] } },
  additionalProperties: true
} as const

export const mailboxParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: MAILBOX_NAME_PATTERN, description: 'a mailbox declared in GATEWAY_CONFIG_FILE (`default` with environment-only configuration)', examples: ['default'] } }
} as const

/** The document as the request body: raw bytes, or one file part. Only documented: the handlers read the stream. */
export const documentRequestBody = {
  required: true,
  description: 'The document. Raw bytes with any Content-Type (name from ?filename= or Content-Disposition), or multipart/form-data with exactly one file part.',
  content: {
    'application/octet-stream': { schema: { type: 'string', format: 'binary', examples: ['ISA*00*          *00*          *ZZ*SENDER~'] } },
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['file'],
        properties: { file: { type: 'string', format: 'binary' } }
      }
    }
  }
} as const
