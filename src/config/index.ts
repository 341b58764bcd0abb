// Environment -> typed, validated Config. Every bad variable is reported in one ConfigError;
// secrets are read here (including *_FILE mounts) and never appear in an error message.
// Each part has its module: env-schema.ts (the variables), mailboxes.ts and file.ts (CIC
// mailboxes, GATEWAY_CONFIG_FILE), auth.ts and keys.ts (callers), egress.ts, redis.ts,
// outbox.ts (store and forward).
import { loadAuth } from './auth.js'
import { loadEgress } from './egress.js'
import { validateEnv, type EnvValues } from './env-schema.js'
import { ConfigError, Findings } from './findings.js'
import { loadMailboxes } from './mailboxes.js'
import { loadOutbox } from './outbox.js'
import { loadRedis } from './redis.js'
import type { Env } from './secrets.js'
import type { Config } from './types.js'

export { ConfigError } from './findings.js'
export { secureBaseUrl } from './mailboxes.js'
export type * from './types.js'

/** The settings that are the variables' values, converted to the units the gateway uses. */
function settings (values: EnvValues) {
  const s = 1000
  return {
    host: values.HOST,
    port: values.PORT,
    metricsPort: values.METRICS_PORT,
    logLevel: values.LOG_LEVEL,
    maxBodyBytes: values.MAX_BODY_BYTES,
    memoryBodyBytes: Math.min(values.MEMORY_BODY_BYTES, values.MAX_BODY_BYTES),
    spoolDir: values.SPOOL_DIR,
    configFile: values.GATEWAY_CONFIG_FILE,
    maxHeaderBytes: values.MAX_HEADER_BYTES,
    tokenFallbackLifetimeSeconds: values.TOKEN_FALLBACK_LIFETIME_SECONDS,
    tokenRefreshMarginSeconds: values.TOKEN_REFRESH_MARGIN_SECONDS,
    readinessCacheSeconds: values.READINESS_CACHE_SECONDS,
    cic: { connectTimeoutMs: values.CIC_CONNECT_TIMEOUT_MS, headersTimeoutMs: values.CIC_HEADERS_TIMEOUT_MS, bodyTimeoutMs: values.CIC_BODY_TIMEOUT_MS },
    shutdownDelayMs: values.SHUTDOWN_DELAY_SECONDS * s,
    shutdownTimeoutMs: values.SHUTDOWN_TIMEOUT_SECONDS * s,
    retry: { retries: values.CIC_RETRIES, baseDelayMs: values.CIC_RETRY_BASE_DELAY_MS, maxDelayMs: values.CIC_RETRY_MAX_DELAY_MS },
    circuit: { failureThreshold: values.CIRCUIT_FAILURE_THRESHOLD, halfOpenAfterMs: values.CIRCUIT_HALF_OPEN_AFTER_SECONDS * s },
    maxConcurrentUploads: values.MAX_CONCURRENT_UPLOADS,
    server: {
      maxConnections: values.MAX_CONNECTIONS,
      requestTimeoutMs: values.SERVER_REQUEST_TIMEOUT_SECONDS * s,
      headersTimeoutMs: values.SERVER_HEADERS_TIMEOUT_SECONDS * s,
      idleTimeoutMs: values.SERVER_IDLE_TIMEOUT_SECONDS * s,
      keepAliveTimeoutMs: values.SERVER_KEEP_ALIVE_TIMEOUT_SECONDS * s,
      lingerMs: values.SERVER_LINGER_SECONDS * s,
      lingerBytes: values.SERVER_LINGER_BYTES
    },
    pressure: { maxEventLoopDelayMs: values.MAX_EVENT_LOOP_DELAY_MS, maxHeapUsedBytes: values.MAX_HEAP_USED_BYTES },
    idempotency: { ttlMs: values.IDEMPOTENCY_TTL_SECONDS * s, maxKeys: values.IDEMPOTENCY_MAX_KEYS, maxBytes: values.IDEMPOTENCY_MAX_BYTES, leaseMs: values.IDEMPOTENCY_LEASE_SECONDS * s }
  } satisfies Partial<Config>
}

export function loadConfig (env: Env = process.env): Config {
  const found = new Findings()
  const values = validateEnv(env, found)
  const nodeEnv = env.NODE_ENV ?? 'development'
  const production = nodeEnv === 'production'
  const { demo, mailboxes, defaultMailbox, callers } = loadMailboxes(env, values, production, found)
  if (values?.METRICS_PORT !== undefined && values.METRICS_PORT !== 0 && values.METRICS_PORT === values.PORT) {
    found.problem('METRICS_PORT must differ from PORT (unset it to serve /metrics on the API port)')
  }
  const auth = loadAuth(env, { production, requested: values?.GATEWAY_AUTH, fileCallers: callers }, found)
  const egress = loadEgress(env, values, found)
  const redis = loadRedis(env, values, found)
  const outbox = loadOutbox(env, values, demo, found)
  if (found.problems.length > 0 || values === undefined) throw new ConfigError(found.problems)
  const { secrets, warnings } = found
  return { nodeEnv, production, ...settings(values), demo, mailboxes, defaultMailbox, auth, egress, redis, outbox, secrets, warnings }
}
