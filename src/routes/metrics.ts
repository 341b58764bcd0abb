// GET /metrics in Prometheus text format: on the API port, or, with METRICS_PORT, only on a
// listener of its own so the metrics are not exposed with the API.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Metrics } from '../observability/metrics.js'
import { registerProblemHandlers } from '../http/problems.js'

export interface MetricsRouteOptions {
  metrics: Metrics
}

export async function metricsRoutes (app: FastifyInstance, opts: MetricsRouteOptions): Promise<void> {
  // Documented in /openapi.json like every route; open like the probes.
  const schema = {
    summary: 'Prometheus metrics (text exposition format)',
    operationId: 'getMetrics',
    response: { 200: { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } } }
  }
  app.get('/metrics', { schema }, async (_request, reply) => {
    const text = await opts.metrics.render()
    return await reply.type(opts.metrics.contentType).send(text)
  })
}

/** The separate metrics listener (METRICS_PORT): /metrics and nothing else. */
export async function buildMetricsServer (metrics: Metrics, logger: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger.child({ listener: 'metrics' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' })
  })
  registerProblemHandlers(app)
  await app.register(metricsRoutes, { metrics })
  return app
}
