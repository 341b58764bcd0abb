// Prometheus metrics: decorates `metrics` (the instruments the delivery reports to) and
// serves GET /metrics on the API port, or with METRICS_PORT on a listener of its own
// (`metricsServer`, listened by main.ts, closed after the API has drained).
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { Metrics } from '../observability/metrics.js'
import { buildMetricsServer, metricsRoutes } from '../routes/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
    /** The METRICS_PORT listener, when METRICS_PORT is set. */
    metricsServer: FastifyInstance | null
  }
}

export interface MetricsPluginOptions {
  mailboxes: readonly string[]
  metricsPort: number | undefined
  sharedStore: boolean
  outbox: boolean
}

export default fp<MetricsPluginOptions>(async (app, opts) => {
  const metrics = new Metrics({
    mailboxes: opts.mailboxes,
    // Read at each scrape from what the delivery plugin decorates (registered after this one).
    spool: { get bytesInUse () { return app.hasDecorator('spool') ? app.spool.bytesInUse : 0 } },
    sharedStore: opts.sharedStore ? { get up () { return app.hasDecorator('sharedState') && app.sharedState?.up === true } } : undefined,
    outbox: opts.outbox
  })
  app.decorate('metrics', metrics)
  if (opts.metricsPort === undefined) {
    await app.register(metricsRoutes, { metrics })
    app.decorate('metricsServer', null)
    return
  }
  const server: FastifyInstance = await buildMetricsServer(metrics, app.log as unknown as Logger)
  app.decorate('metricsServer', server)
  // Scraped until the API has drained, so the last in-flight uploads are counted.
  app.addHook('onClose', async () => { await server.close() })
}, { name: 'metrics', fastify: '5.x' })
