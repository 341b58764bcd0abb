// Assembles a running gateway from a Config: dispatcher, delivery service, spool, HTTP app.
// main() and the tests both start the gateway through here.
import type { FastifyInstance } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import { buildApp } from './app.js'
import { createCicDispatcher } from './cic/dispatcher.js'
import type { Config } from './config.js'
import { Spool } from './delivery/body.js'
import { DeliveryService } from './delivery/service.js'
import { ConcurrencyLimit } from './http/concurrency.js'
import { IdempotencyStore } from './http/idempotency.js'
import { createLifecycle, type Lifecycle } from './lifecycle.js'

export interface Gateway {
  app: FastifyInstance
  delivery: DeliveryService
  spool: Spool
  lifecycle: Lifecycle
  uploads: ConcurrencyLimit
  idempotency: IdempotencyStore
  /** Resolves once no upload is in flight (checked every 100 ms), or after timeoutMs. */
  drained (timeoutMs: number): Promise<boolean>
  /** Stops accepting, waits for in-flight requests, closes CIC connections. */
  close (): Promise<void>
}

export async function createGateway (config: Config, logger: Logger): Promise<Gateway> {
  const spool = new Spool(config.spoolDir)
  await spool.init()
  const delivery = new DeliveryService({
    mailboxes: config.mailboxes,
    defaultMailbox: config.defaultMailbox,
    dispatcher: createCicDispatcher(config.cic),
    logger,
    tokenRefreshMarginSeconds: config.tokenRefreshMarginSeconds,
    tokenFallbackLifetimeSeconds: config.tokenFallbackLifetimeSeconds,
    readinessCacheSeconds: config.readinessCacheSeconds,
    retry: config.retry,
    circuit: config.circuit
  })
  const lifecycle = createLifecycle()
  const uploads = new ConcurrencyLimit(config.maxConcurrentUploads)
  const idempotency = new IdempotencyStore(config.idempotency)
  const app = await buildApp({ config, delivery, spool, lifecycle, logger, uploads, idempotency })
  return {
    app,
    delivery,
    spool,
    lifecycle,
    uploads,
    idempotency,
    async drained (timeoutMs) {
      const deadline = Date.now() + timeoutMs
      while (uploads.active > 0 && Date.now() < deadline) await sleep(100)
      return uploads.active === 0
    },
    async close () {
      await app.close()
      await delivery.close()
    }
  }
}
