// Load shedding on event-loop delay and heap (@fastify/under-pressure): a shed request gets
// 503 overloaded, safe to resend. Probes and metrics are answered under pressure too.
import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'
import { sendProblem } from '../http/problems.js'

export interface PressureOptions {
  maxEventLoopDelayMs: number
  maxHeapUsedBytes: number
}

const UNSHED = new Set(['/livez', '/readyz', '/metrics'])

export default fp<PressureOptions>(async (app, opts) => {
  await app.register(underPressure, {
    maxEventLoopDelay: opts.maxEventLoopDelayMs,
    maxHeapUsedBytes: opts.maxHeapUsedBytes,
    retryAfter: 5,
    pressureHandler: (request, reply, type, value) => {
      if (UNSHED.has(request.url.split('?')[0]!)) return
      request.log.warn({ event: 'shed', type, value }, 'request shed under pressure')
      void reply.header('connection', 'close')
      sendProblem(reply, { code: 'overloaded', detail: `the gateway is overloaded (${type}); the document was not delivered and is safe to resend`, delivered: 'no', retryAfterSeconds: 5 })
    }
  })
}, { name: 'pressure', fastify: '5.x' })
