// /livez checks the process only (a CIC outage must not restart every pod); /readyz checks
// that the gateway can deliver, from cached state, and fails at once during shutdown.
import type { FastifyInstance } from 'fastify'
import type { DeliveryService } from '../delivery/service.js'
import type { Lifecycle } from '../lifecycle.js'
import { PROBLEM_CONTENT_TYPE, problemType } from './problems.js'
import { jsonResponse, problemResponse } from './schemas.js'

const mailboxReadiness = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    required: ['ready'],
    properties: { ready: { type: 'boolean' }, reason: { type: 'string' } }
  }
} as const

const livez = {
  summary: 'Liveness: the process runs (never checks CIC)',
  operationId: 'getLivez',
  response: { 200: jsonResponse('alive', { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } }) }
}

const readyz = {
  summary: 'Readiness: every mailbox can deliver (cached)',
  operationId: 'getReadyz',
  response: {
    200: jsonResponse('every mailbox can deliver', { type: 'object', required: ['status', 'mailboxes'], properties: { status: { type: 'string', enum: ['ready'] }, mailboxes: mailboxReadiness } }),
    503: problemResponse('not ready (a mailbox cannot log in or find its upload folder), or shutting down')
  }
}

export interface HealthRouteOptions {
  delivery: DeliveryService
  lifecycle: Lifecycle
}

export async function healthRoutes (app: FastifyInstance, opts: HealthRouteOptions): Promise<void> {
  app.get('/livez', { schema: livez }, async () => ({ status: 'ok' }))

  app.get('/readyz', { schema: readyz }, async (request, reply) => {
    if (opts.lifecycle.shuttingDown) {
      return await reply.code(503).type(PROBLEM_CONTENT_TYPE).send({ type: problemType('shutting-down'), title: 'Shutting down', status: 503, detail: 'the gateway is shutting down', requestId: request.id })
    }
    const readiness = await opts.delivery.ready()
    if (readiness.ready) return { status: 'ready', mailboxes: readiness.mailboxes }
    return await reply.code(503).type(PROBLEM_CONTENT_TYPE).send({
      type: problemType('not-ready'),
      title: 'Not ready',
      status: 503,
      detail: Object.entries(readiness.mailboxes).filter(([, r]) => !r.ready).map(([name, r]) => `${name}: ${r.reason ?? 'not ready'}`).join('; '),
      mailboxes: readiness.mailboxes,
      requestId: request.id
    })
  })
}
