// Store and forward (issue 14): what became of a document accepted with
// `Prefer: respond-async` (202). GET /deliveries/{id}, GET /deliveries?state= (paged) and
// POST /deliveries/{id}/retry. A caller sees only its own deliveries: another caller's id is
// answered exactly like an unknown one. Every error is problem+json; nothing from the input
// is reflected. With REDIS_URL the reader spans the replicas: a 503 says when the shared
// store, or the replica holding the delivery, cannot be reached.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DeliveryOwnerUnavailableError, StatusStoreUnavailableError } from '../delivery/outbox/status-store.js'
import type { DeliveryState, DeliveryStatus } from '../delivery/outbox/types.js'
import type { Access } from '../http/access.js'
import { ProblemError } from '../http/problems.js'
import { jsonResponse, problemResponse } from '../http/schemas.js'

/**
 * The part of the Outbox these routes use (with REDIS_URL, SharedDeliveries: the outbox and
 * the shared store). May throw StatusStoreUnavailableError and (retry) DeliveryOwnerUnavailableError.
 */
export interface DeliveryReader {
  /** True when it reads the shared store too (REDIS_URL): only then are its 503s answered, and documented. */
  readonly spansReplicas?: boolean
  get (id: string, caller: string): Promise<DeliveryStatus | undefined>
  list (caller: string, state: DeliveryState, opts: { limit: number, after?: string }): Promise<{ items: DeliveryStatus[], next?: string }>
  retry (id: string, caller: string): Promise<DeliveryStatus | undefined>
}

export interface DeliveriesRouteOptions {
  outbox: DeliveryReader
  access: Access
}

export const DELIVERY_STATES = ['queued', 'delivering', 'delivered', 'failed'] as const
/** Delivery ids are UUIDs (the outbox makes v7 ones, sortable by acceptance time). */
const ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
const DEFAULT_LIMIT = 100
const MAX_LIMIT = 1000

/** The status of one delivery, as GET /deliveries/{id} answers it (the caller's name and key are not part of it). */
export const deliveryStatusSchema = {
  type: 'object',
  description: 'a document accepted into the outbox, and what became of it',
  required: ['id', 'state', 'mailbox', 'filename', 'bytes', 'sha256', 'acceptedAt', 'attempts'],
  properties: {
    id: { type: 'string', pattern: ID_PATTERN },
    state: { type: 'string', enum: DELIVERY_STATES, description: 'queued: waiting for (another) attempt; delivering: an upload is in progress or being settled; delivered: CIC holds it (see cic); failed: not delivered and not retried any more (see lastError; POST /deliveries/{id}/retry)' },
    mailbox: { type: 'string' },
    filename: { type: 'string' },
    bytes: { type: 'integer', minimum: 0 },
    sha256: { type: 'string', description: 'SHA-256 of the document, base64' },
    acceptedAt: { type: 'string', format: 'date-time', description: 'when the document and its record were on disk (fsynced)' },
    attempts: { type: 'integer', minimum: 0, description: 'uploads to CIC started so far' },
    nextAttemptAt: { type: 'string', format: 'date-time', description: 'while queued: when the next attempt is due' },
    lastError: {
      type: 'object',
      description: 'why the last attempt did not deliver it (a failed delivery: why it failed)',
      required: ['code', 'title'],
      properties: {
        code: { type: 'string', description: 'the problem code (cic-rejected, cic-file-too-large, cic-unavailable, outbox-expired, ...)' },
        title: { type: 'string' },
        upstreamStatus: { type: 'integer', description: 'the HTTP status CIC answered' }
      },
      additionalProperties: false
    },
    cic: { type: 'object', description: 'once delivered: the file resource CIC created, as CIC returned it', additionalProperties: true },
    deliveredAt: { type: 'string', format: 'date-time' }
  },
  additionalProperties: false
} as const

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: ID_PATTERN, description: 'the id of the 202 answer (its Location header)' } }
} as const

const listQuerystring = {
  type: 'object',
  required: ['state'],
  properties: {
    state: { type: 'string', enum: DELIVERY_STATES, examples: ['failed'] },
    limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT, description: 'deliveries per page' },
    after: { type: 'string', pattern: ID_PATTERN, description: 'the `next` of the previous page' }
  },
  additionalProperties: false
} as const

const listSchema = {
  type: 'object',
  required: ['items'],
  properties: {
    items: { type: 'array', items: deliveryStatusSchema, description: 'oldest first' },
    next: { type: 'string', pattern: ID_PATTERN, description: 'present when there are more: pass it as ?after= (the Link rel="next" header says the same)' }
  },
  additionalProperties: false
} as const

const location = { location: { type: 'string', description: '/deliveries/{id}' } }
/** OpenAPI links: from an answer carrying ids to the operations that take one. */
const fromItems = {
  getDelivery: { operationId: 'getDelivery', parameters: { id: '$response.body#/items/0/id' }, description: 'the status of the first delivery of the page' },
  retryDelivery: { operationId: 'retryDelivery', parameters: { id: '$response.body#/items/0/id' }, description: 'retry it (when failed)' }
}
const fromStatus = { getDelivery: { operationId: 'getDelivery', parameters: { id: '$response.body#/id' }, description: 'its status' } }
const unauthorized = problemResponse('no or an unknown API key (`WWW-Authenticate: Bearer`)', { 'www-authenticate': { type: 'string' } })
const notFound = problemResponse('no delivery of this id for this caller (`delivery-not-found`): unknown, expired, or another caller\'s')
const refusal = problemResponse('the id, state, limit or cursor is malformed')
const retryAfter = { 'retry-after': { type: 'string', description: 'seconds' } }
const storeUnavailable = problemResponse('with several replicas (REDIS_URL): the shared delivery status store cannot be reached (`delivery-status-unavailable`), so a delivery another replica holds, or a list spanning them, cannot be read now; this replica\'s own deliveries are still answered by id. `Retry-After`', retryAfter)
const ownerUnavailable = problemResponse('the delivery is held by another replica (its document is on that replica\'s volume, only it can requeue it) and that replica did not take the request (`delivery-owner-unavailable`: stopped, restarting, or not answering within 5 s), or the shared store cannot be reached (`delivery-status-unavailable`); nothing was changed. `Retry-After`', retryAfter)

interface IdParams { id: string }
interface ListQuery { state: DeliveryState, limit?: number, after?: string }

export async function deliveriesRoutes (app: FastifyInstance, opts: DeliveriesRouteOptions): Promise<void> {
  // The same API keys as the document routes; checked before anything is read.
  app.addHook('onRequest', opts.access.authenticate)
  const security = [{ apiKey: [] }]
  const { outbox } = opts
  // The 503s exist only with the shared store; without it the spec does not promise them.
  const shared = outbox.spansReplicas === true
  const unavailableAnswers = shared ? { 503: storeUnavailable } : {}
  const caller = (request: FastifyRequest): string => request.caller?.name ?? ''

  app.get<{ Params: IdParams }>('/deliveries/:id', {
    schema: {
      summary: 'The status of a document accepted with Prefer: respond-async',
      operationId: 'getDelivery',
      security,
      params: idParams,
      response: { 200: jsonResponse('the delivery\'s status', deliveryStatusSchema), 400: refusal, 401: unauthorized, 404: notFound, ...unavailableAnswers }
    }
  }, async (request, reply) => {
    const status = await outbox.get(request.params.id, caller(request)).catch(unavailable)
    if (status === undefined) throw deliveryNotFound()
    return await reply.code(200).send(status)
  })

  app.get<{ Querystring: ListQuery }>('/deliveries', {
    schema: {
      summary: 'The caller\'s deliveries in one state, oldest first, paged',
      operationId: 'listDeliveries',
      security,
      querystring: listQuerystring,
      response: {
        200: { ...jsonResponse('a page of deliveries', listSchema, { link: { type: 'string', description: '`<...>; rel="next"` when there are more' } }), links: fromItems },
        400: refusal,
        401: unauthorized,
        ...unavailableAnswers
      }
    }
  }, async (request, reply) => {
    const { state, after } = request.query
    const limit = request.query.limit ?? DEFAULT_LIMIT
    const page = await outbox.list(caller(request), state, { limit, ...(after !== undefined ? { after } : {}) }).catch(unavailable)
    if (page.next !== undefined) {
      // Built from the validated values only (an enum, an integer, an id of ours), never from the raw query.
      void reply.header('link', `</deliveries?${new URLSearchParams({ state, limit: String(limit), after: page.next }).toString()}>; rel="next"`)
    }
    return await reply.code(200).send(page.next === undefined ? { items: page.items } : page)
  })

  app.post<{ Params: IdParams }>('/deliveries/:id/retry', {
    schema: {
      summary: 'Put a failed delivery back in the queue',
      operationId: 'retryDelivery',
      security,
      params: idParams,
      response: {
        202: { ...jsonResponse('queued again: the status, now queued', deliveryStatusSchema, location), links: fromStatus },
        400: refusal,
        401: unauthorized,
        404: notFound,
        409: problemResponse('the delivery is not failed (`delivery-not-failed`): queued, delivering or delivered ones are not retried'),
        ...(shared ? { 503: ownerUnavailable } : {})
      }
    }
  }, async (request, reply) => retry(request, reply, caller(request)))

  async function retry (request: FastifyRequest<{ Params: IdParams }>, reply: FastifyReply, who: string): Promise<FastifyReply> {
    const id = request.params.id
    const before = await outbox.get(id, who).catch(unavailable)
    if (before === undefined) throw deliveryNotFound()
    if (before.state !== 'failed') throw deliveryNotFailed(before.state)
    const after = await outbox.retry(id, who).catch(unavailable)
    if (after === undefined) throw deliveryNotFound()
    // Retried at once by someone else, or delivered meanwhile: only a failed one goes back.
    if (after.state === 'failed' || after.state === 'delivered') throw deliveryNotFailed(after.state)
    request.log.info({ event: 'delivery.retried', deliveryId: id, mailbox: after.mailbox }, 'failed delivery queued again')
    return await reply.code(202).header('location', `/deliveries/${id}`).send(after)
  }
}

/** The reader's 503s as problems; anything else passes through. */
function unavailable (err: unknown): never {
  if (err instanceof StatusStoreUnavailableError) {
    throw new ProblemError({ code: 'delivery-status-unavailable', detail: 'the shared delivery status store cannot be reached: deliveries held by other replicas cannot be read or listed now', retryAfterSeconds: 5 })
  }
  if (err instanceof DeliveryOwnerUnavailableError) {
    throw new ProblemError({ code: 'delivery-owner-unavailable', detail: 'the delivery is held by another replica, which did not take the retry (stopped, restarting or not answering); nothing was changed: retry later', retryAfterSeconds: 30 })
  }
  throw err
}

function deliveryNotFound (): ProblemError {
  return new ProblemError({ code: 'delivery-not-found', detail: 'no delivery of this id is known for this caller' })
}

function deliveryNotFailed (state: DeliveryState): ProblemError {
  return new ProblemError({ code: 'delivery-not-failed', detail: `the delivery is ${state}: only a failed delivery can be retried` })
}
