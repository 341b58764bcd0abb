// Assembles a running gateway from a Config: dispatcher, delivery service, spool, HTTP app.
// main() and the tests both start the gateway through here.
import type { FastifyInstance } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { buildApp } from './app.js'
import { createCicDispatcher } from './cic/dispatcher.js'
import type { Config } from './config/index.js'
import { Spool } from './delivery/body.js'
import { DeliveryService } from './delivery/service.js'
import { ConcurrencyLimit } from './http/concurrency.js'
import { Idempotency } from './delivery/idempotency.js'
import { MemoryIdempotencyStore, type IdempotencyStore } from './delivery/idempotency-store.js'
import { buildMetricsServer } from './http/metrics.js'
import { createLifecycle, type Lifecycle } from './lifecycle.js'
import { Metrics } from './metrics.js'
import { logSecurityPosture } from './posture.js'
import { createRedisStores } from './redis.js'

export interface Gateway {
  app: FastifyInstance
  delivery: DeliveryService
  spool: Spool
  lifecycle: Lifecycle
  uploads: ConcurrencyLimit
  idempotency: Idempotency
  idempotencyStore: IdempotencyStore
  /** Resolves once no upload is in flight (checked every 100 ms), or after timeoutMs. */
  drained (timeoutMs: number): Promise<boolean>
  metrics: Metrics
  /** The METRICS_PORT listener (not listening yet: main() listens), when METRICS_PORT is set. */
  metricsServer: FastifyInstance | undefined
  /** Stops accepting, waits for in-flight requests, closes CIC connections. */
  close (): Promise<void>
}

export async function createGateway (config: Config, logger: Logger): Promise<Gateway> {
  const spool = new Spool(config.spoolDir)
  await spool.init()
  // With REDIS_URL, Idempotency-Key records and CIC tokens are shared by every replica.
  const shared = config.redis === undefined ? undefined : createRedisStores({ ...config.redis, idempotencyTtlMs: config.idempotency.ttlMs }, logger)
  const metrics = new Metrics({ mailboxes: config.mailboxes.map(m => m.name), spool, sharedStore: shared })
  const delivery = new DeliveryService({
    mailboxes: config.mailboxes,
    defaultMailbox: config.defaultMailbox,
    dispatcher: createCicDispatcher(config.cic, config.egress),
    logger,
    tokenRefreshMarginSeconds: config.tokenRefreshMarginSeconds,
    tokenFallbackLifetimeSeconds: config.tokenFallbackLifetimeSeconds,
    readinessCacheSeconds: config.readinessCacheSeconds,
    retry: config.retry,
    circuit: config.circuit,
    secrets: config.secrets,
    tokenStore: shared?.tokens,
    onCircuitChange: (mailbox, state) => { metrics.setCircuitState(mailbox, state) },
    observer: { cicCall: metrics.cicCall, login: (mailbox, result) => { metrics.login(mailbox, result) } }
  })
  const lifecycle = createLifecycle()
  logSecurityPosture(config, logger)
  const uploads = new ConcurrencyLimit(config.maxConcurrentUploads)
  // Commands fail until the first connection: wait briefly, but start either way (keyed
  // requests get 503 until Redis answers; the rest work).
  if (shared !== undefined && !await shared.ready(5000)) logger.warn({ event: 'redis.state', up: false }, 'Redis not reachable at start: keyed requests get 503 until it is')
  const idempotencyStore: IdempotencyStore = shared?.idempotency ?? new MemoryIdempotencyStore(config.idempotency)
  // The lease matters only to a shared store, where an owner can die without its store.
  const idempotency = new Idempotency({ store: idempotencyStore, leaseMs: config.idempotency.leaseMs })
  const app = await buildApp({ config, delivery, spool, lifecycle, logger, uploads, idempotency, metrics })
  const metricsServer = config.metricsPort !== undefined ? await buildMetricsServer(metrics, logger) : undefined
  return {
    app,
    delivery,
    spool,
    lifecycle,
    uploads,
    idempotency,
    idempotencyStore,
    async drained (timeoutMs) {
      const deadline = Date.now() + timeoutMs
      while (uploads.active > 0 && Date.now() < deadline) await sleep(100)
      return uploads.active === 0
    },
    metrics,
    metricsServer,
    async close () {
      await app.close()
      // Scraped until the API has drained, so the last in-flight uploads are counted.
      await metricsServer?.close()
      await delivery.close()
      await idempotencyStore.close()
      await shared?.close()
    }
  }
}
