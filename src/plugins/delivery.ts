// The delivery machinery, built once from the config: the CIC connections and mailboxes
// (DeliveryService), the spool, the upload cap, the Idempotency-Key state machine on its
// store (memory, or Redis shared by the replicas), and the intake that ties them together.
// Everything it opens it closes in its own onClose, after the API has drained.
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import type { Config } from '../config/index.js'
import { Spool } from '../delivery/body.js'
import { ConcurrencyLimit } from '../delivery/concurrency.js'
import { Idempotency } from '../delivery/idempotency.js'
import { MemoryIdempotencyStore, type IdempotencyStore } from '../delivery/idempotency-store.js'
import { DocumentIntake } from '../delivery/intake.js'
import { deliveryServiceFor, type DeliveryService } from '../delivery/service.js'
import { scalarLineLogger } from '../observability/logger.js'
import { createRedisStores, type RedisStores } from '../redis/index.js'

declare module 'fastify' {
  interface FastifyInstance {
    delivery: DeliveryService
    intake: DocumentIntake
    spool: Spool
    uploads: ConcurrencyLimit
    /** With REDIS_URL: the stores shared with the other replicas. */
    sharedState: RedisStores | null
  }
}

export default fp<{ config: Config }>(async (app, { config }) => {
  const logger = app.log as unknown as Logger
  const spool = new Spool(config.spoolDir)
  await spool.init()
  // With REDIS_URL, Idempotency-Key records and CIC tokens are shared by every replica.
  const shared = config.redis === undefined ? null : createRedisStores({ ...config.redis, idempotencyTtlMs: config.idempotency.ttlMs }, logger)
  const metrics = app.metrics
  const delivery = deliveryServiceFor(config, logger, {
    tokenStore: shared?.tokens,
    onCircuitChange: (mailbox, state) => { metrics.setCircuitState(mailbox, state) },
    observer: { cicCall: metrics.cicCall, login: (mailbox, result) => { metrics.login(mailbox, result) } }
  })
  // Commands fail until the first connection: wait briefly, but start either way (keyed
  // requests get 503 until Redis answers; the rest work).
  if (shared !== null && !await shared.ready(5000)) logger.warn({ event: 'redis.state', up: false }, 'Redis not reachable at start: keyed requests get 503 until it is')
  const store: IdempotencyStore = shared?.idempotency ?? new MemoryIdempotencyStore(config.idempotency)
  // The lease matters only to a shared store, where an owner can die without its store.
  const idempotency = new Idempotency({ store, leaseMs: config.idempotency.leaseMs })
  const uploads = new ConcurrencyLimit(config.maxConcurrentUploads)

  app.decorate('delivery', delivery)
  app.decorate('spool', spool)
  app.decorate('uploads', uploads)
  app.decorate('sharedState', shared)
  app.decorate('intake', new DocumentIntake({
    delivery,
    uploads,
    idempotency,
    logger,
    deliveryLog: scalarLineLogger(logger),
    // The outbox plugin opens it after this one (it delivers through `delivery`).
    outbox: () => app.hasDecorator('outbox') ? app.outbox : null,
    maxBodyBytes: config.maxBodyBytes
  }))
  app.addHook('onClose', async () => {
    await delivery.close()
    await spool.close()
    await store.close()
    await shared?.close()
  })
}, { name: 'delivery', dependencies: ['metrics'], fastify: '5.x' })
