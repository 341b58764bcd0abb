// The shared stores of several replicas, on one Redis connection (redis-connection.ts):
// Idempotency-Key records, CIC login tokens and delivery status records (store and
// forward). Created only when REDIS_URL is set.
import type { Logger } from 'pino'
import { RedisTokenStore } from '../cic/token-store-redis.js'
import { RedisIdempotencyStore } from '../delivery/idempotency-redis.js'
import { RedisDeliveryStatusStore } from '../delivery/outbox/status-redis.js'
import { RedisConnection, type RedisConnectionOptions } from './connection.js'

export { RedisConnection, RedisUnavailableError, scrubber, type RedisConnectionOptions } from './connection.js'

export interface RedisStoresOptions extends RedisConnectionOptions {
  /** How long an Idempotency-Key record lives (IDEMPOTENCY_TTL_SECONDS). */
  idempotencyTtlMs: number
}

export interface RedisStores {
  idempotency: RedisIdempotencyStore
  tokens: RedisTokenStore
  /** The outbox's status records, read by every replica. */
  deliveryStatus: RedisDeliveryStatusStore
  connection: RedisConnection
  /** True while Redis answers (the cic_gateway_idempotency_store_up gauge). */
  readonly up: boolean
  /** Told on each up/down transition; the transition's log line is written here already. */
  onStateChange: (listener: (up: boolean) => void) => () => void
  /** Resolves true once connected, false after the timeout. */
  ready: (timeoutMs: number) => Promise<boolean>
  close: () => Promise<void>
}

/** The shared stores on one connection. Throws (scrubbed) when the URL is unusable. */
export function createRedisStores (options: RedisStoresOptions, logger?: Logger): RedisStores {
  const connection = new RedisConnection(options, logger)
  return {
    idempotency: new RedisIdempotencyStore(connection, { ttlMs: options.idempotencyTtlMs }),
    tokens: new RedisTokenStore(connection),
    deliveryStatus: new RedisDeliveryStatusStore(connection),
    connection,
    get up () { return connection.isUp },
    onStateChange: listener => connection.onStateChange(listener),
    ready: async timeoutMs => await connection.ready(timeoutMs),
    close: async () => { await connection.close() }
  }
}
