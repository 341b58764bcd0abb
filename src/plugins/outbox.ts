// Store and forward (issue 14): with config.outbox (OUTBOX_DIR, or demo mode) the outbox is
// opened at start-up (interrupted accepts discarded, damaged records set aside, deliveries
// whose upload may have started reconciled first), its workers deliver through the same
// DeliveryService as the synchronous route, and the metrics read it at each scrape.
// Decorates `outbox` (null without one). Closed after the API has drained: uploads in
// progress finish within SHUTDOWN_TIMEOUT_SECONDS, everything else stays on disk for the
// next start. Demo mode's temporary outbox is removed then.
import { rm } from 'node:fs/promises'
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import type { Config } from '../config/index.js'
import { Outbox } from '../delivery/outbox/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The outbox, when OUTBOX_DIR (or demo mode) enables store and forward. */
    outbox: Outbox | null
  }
}

export default fp<{ config: Config }>(async (app, { config }) => {
  const settings = config.outbox
  if (settings === undefined) {
    app.decorate('outbox', null)
    return
  }
  const logger = app.log as unknown as Logger
  const delivery = app.delivery
  const outbox = await Outbox.open({
    dir: settings.dir,
    maxBytes: settings.maxBytes,
    maxAgeMs: settings.maxAgeMs,
    concurrency: settings.concurrency,
    deliver: async doc => await delivery.deliver(doc),
    findDelivered: async (mailbox, filename, requestId) => await delivery.findDelivered(mailbox, filename, requestId),
    logger,
    onChange: app.metrics.outboxChange
  })
  app.metrics.watchOutbox({
    oldestQueuedAgeSeconds: () => outbox.oldestQueuedAgeSeconds(),
    stateCounts: () => outbox.stateCounts(),
    get bytesInUse () { return outbox.bytesInUse },
    capacityBytes: settings.maxBytes
  })
  app.decorate('outbox', outbox)
  outbox.start()
  app.addHook('onClose', async () => {
    await outbox.close(config.shutdownTimeoutMs)
    if (settings.temporary === true) await rm(settings.dir, { recursive: true, force: true })
  })
}, { name: 'outbox', dependencies: ['delivery', 'metrics'], fastify: '5.x' })
