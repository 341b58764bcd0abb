// /livez checks the process only (a CIC outage must not restart every pod); /readyz checks
// that the gateway can deliver, from cached state, and fails at once during shutdown.
import type { FastifyInstance } from 'fastify'
import type { DeliveryService } from '../delivery/service.js'
import type { Lifecycle } from '../lifecycle.js'
import { PROBLEM_CONTENT_TYPE, problemType } from './problems.js'

export interface HealthRouteOptions {
  delivery: DeliveryService
  lifecycle: Lifecycle
}

export async function healthRoutes (app: FastifyInstance, opts: HealthRouteOptions): Promise<void> {
  app.get('/livez', async () => ({ status: 'ok' }))

  app.get('/readyz', async (request, reply) => {
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
