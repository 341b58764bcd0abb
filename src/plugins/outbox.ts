// Store and forward (issue 14): with config.outbox (OUTBOX_DIR, or demo mode) the outbox is
// opened at start-up (interrupted accepts discarded, damaged records set aside, deliveries
// whose upload may have started reconciled first), its workers deliver through the same
// DeliveryService as the synchronous route, and the metrics read it at each scrape.
// With REDIS_URL every status change is also written to the shared store (the accept's
// before its 202, one round trip; the others in the background), so the deliveries routes
// answer on any replica, and a retry of another replica's delivery is relayed to it.
// Decorates `outbox` (null without one) and `deliveries` (what the deliveries routes read).
// Closed after the API has drained: uploads in progress finish within
// SHUTDOWN_TIMEOUT_SECONDS, everything else stays on disk for the next start. Demo mode's
// temporary outbox is removed then.
import { rm } from 'node:fs/promises'
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import type { Config } from '../config/index.js'
import { Outbox } from '../delivery/outbox/index.js'
import { StatusPublisher } from '../delivery/outbox/status-publisher.js'
import { SharedDeliveries } from '../delivery/outbox/status-reader.js'
import { RetryRelay } from '../delivery/outbox/status-relay.js'
import { replicaOwner } from '../delivery/outbox/status-store.js'
import type { DeliveryReader } from '../routes/deliveries.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The outbox, when OUTBOX_DIR (or demo mode) enables store and forward. */
    outbox: Outbox | null
    /** What GET /deliveries... read: the outbox, or with REDIS_URL the outbox and the shared store. */
    deliveries: DeliveryReader | null
  }
}

export default fp<{ config: Config }>(async (app, { config }) => {
  const settings = config.outbox
  if (settings === undefined) {
    app.decorate('outbox', null)
    app.decorate('deliveries', null)
    return
  }
  const logger = app.log as unknown as Logger
  const delivery = app.delivery
  const metrics = app.metrics
  const store = app.sharedState?.deliveryStatus
  // Set once the outbox is open (nothing changes before its workers start).
  let publisher: StatusPublisher | undefined
  const outbox = await Outbox.open({
    dir: settings.dir,
    maxBytes: settings.maxBytes,
    maxAgeMs: settings.maxAgeMs,
    concurrency: settings.concurrency,
    deliver: async doc => await delivery.deliver(doc),
    findDelivered: async (mailbox, filename, requestId) => await delivery.findDelivered(mailbox, filename, requestId),
    logger,
    onChange: (status, settledAt) => {
      metrics.outboxChange(status)
      const written = publisher?.publish(status, settledAt)
      // Awaited for an accept (so its Location answers on any replica), unless Redis is known down.
      return store?.available === true ? written : undefined
    },
    ...(store !== undefined ? { lookup: async (id: string, caller: string) => (await store.get(id, caller))?.status } : {})
  })
  app.metrics.watchOutbox({
    oldestQueuedAgeSeconds: () => outbox.oldestQueuedAgeSeconds(),
    stateCounts: () => outbox.stateCounts(),
    get bytesInUse () { return outbox.bytesInUse },
    capacityBytes: settings.maxBytes
  })
  let reader: DeliveryReader = outbox
  let relay: RetryRelay | undefined
  const shared = app.sharedState
  if (shared !== null && store !== undefined) {
    const owner = await replicaOwner(settings.dir)
    const statuses = new StatusPublisher({ store, owner, keepSettledMs: outbox.keepSettledMs, logger })
    publisher = statuses
    relay = new RetryRelay({ connection: shared.connection, self: owner, retry: async (id, caller) => await outbox.retry(id, caller), logger })
    relay.start()
    shared.onStateChange(up => { if (up) statuses.storeUp() })
    // Records the store may lack (a crash between a change and its write, an outage): in the background.
    statuses.attach(outbox)
    reader = new SharedDeliveries({ outbox, store, publisher: statuses, relay, self: owner.id })
    logger.info({ event: 'delivery-status.shared', replica: owner.id, host: owner.host }, 'delivery status records shared through Redis')
  }
  app.decorate('outbox', outbox)
  app.decorate('deliveries', reader)
  outbox.start()
  // A retry asked for by another replica now gets its 503 delivery-owner-unavailable, not a closed outbox's answer.
  app.addHook('preClose', async () => { relay?.close() })
  app.addHook('onClose', async () => {
    await outbox.close(config.shutdownTimeoutMs)
    // The last changes written before the delivery plugin closes Redis.
    await publisher?.close()
    if (settings.temporary === true) await rm(settings.dir, { recursive: true, force: true })
  })
}, { name: 'outbox', dependencies: ['delivery', 'metrics'], fastify: '5.x' })
