// /livez checks the process only (a CIC outage must not restart every pod); /readyz checks
// that the gateway can deliver, from cached state, and fails at once during shutdown.
import type { FastifyInstance } from 'fastify'
import { READINESS_REASONS } from '../delivery/service.js'
import { PROBLEM_CONTENT_TYPE, sendProblem } from '../http/problems.js'
import { jsonResponse, problemSchema } from '../http/schemas.js'

const mailboxReadiness = {
  type: 'object',
  description: 'per mailbox name',
  additionalProperties: {
    type: 'object',
    required: ['ready'],
    properties: {
      ready: { type: 'boolean' },
      reason: {
        type: 'string',
        enum: [...READINESS_REASONS],
        description: 'when not ready: the code of the failure the check met (as in the problem type of a refused delivery). ' +
          'A code only, never CIC\'s text: the detail is in the gateway log (event "readiness")'
      }
    }
  }
} as const

const requestIdHeader = { 'x-request-id': { type: 'string', description: 'the caller\'s X-Request-Id when well-formed, else a new id' } }

const notReady = {
  description: 'not ready (a mailbox cannot log in or find its upload folder), or shutting down',
  headers: requestIdHeader,
  content: {
    [PROBLEM_CONTENT_TYPE]: {
      schema: { ...problemSchema, properties: { ...problemSchema.properties, mailboxes: mailboxReadiness } }
    }
  }
}

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
    503: notReady
  }
}

export async function healthRoutes (app: FastifyInstance): Promise<void> {
  app.get('/livez', { schema: livez }, async () => ({ status: 'ok' }))

  app.get('/readyz', { schema: readyz }, async (_request, reply) => {
    if (app.lifecycle.shuttingDown) return sendProblem(reply, { code: 'shutting-down', detail: 'the gateway is shutting down' })
    const readiness = await app.delivery.ready()
    if (readiness.ready) return { status: 'ready', mailboxes: readiness.mailboxes }
    return sendProblem(reply, {
      code: 'not-ready',
      // Mailbox names (configuration) and reason codes only: nothing CIC said.
      detail: `not ready: ${Object.entries(readiness.mailboxes).filter(([, r]) => !r.ready).map(([name, r]) => `${name} (${r.reason ?? 'not-ready'})`).join(', ')}`,
      extensions: { mailboxes: readiness.mailboxes }
    })
  })
}
