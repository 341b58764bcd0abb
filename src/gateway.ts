// Assembles a running gateway from a Config: dispatcher, delivery service, spool, HTTP app.
// main() and the tests both start the gateway through here.
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { buildApp } from './app.js'
import { createCicDispatcher } from './cic/dispatcher.js'
import type { Config } from './config.js'
import { Spool } from './delivery/body.js'
import { DeliveryService } from './delivery/service.js'
import { createLifecycle, type Lifecycle } from './lifecycle.js'

export interface Gateway {
  app: FastifyInstance
  delivery: DeliveryService
  spool: Spool
  lifecycle: Lifecycle
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
  const app = await buildApp({ config, delivery, spool, lifecycle, logger })
  return {
    app,
    delivery,
    spool,
    lifecycle,
    async close () {
      await app.close()
      await delivery.close()
    }
  }
}
