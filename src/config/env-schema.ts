// The environment variables the gateway reads, as one schema: their shapes, bounds and defaults.
// env-schema (Ajv) validates them all at once; EnvValues is the schema's own type (TypeBox
// Static), so a variable is declared in one place. Secrets (CIC_PASSWORD, GATEWAY_API_KEYS,
// REDIS_PASSWORD and their _FILE forms) and proxy URLs are not in it: they are read by
// secrets.ts and egress.ts, so no secret value ever reaches a validation message.
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import envSchema from 'env-schema'
import { Type, type Static } from 'typebox'
import type { Findings } from './findings.js'
import type { Env } from './secrets.js'

const GIB = 1024 * 1024 * 1024
const port = (options: { default?: number } = {}) => Type.Integer({ minimum: 0, maximum: 65535, ...options })
const int = (minimum: number, fallback: number) => Type.Integer({ minimum, default: fallback })
const seconds = (minimum: number, fallback: number) => Type.Number({ minimum, default: fallback })
const path = () => Type.Optional(Type.String({ minLength: 1 }))

export const EnvSchema = Type.Object({
  NODE_ENV: Type.String({ default: 'development' }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  PORT: port({ default: 8080 }),
  METRICS_PORT: Type.Optional(port()),
  LOG_LEVEL: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  MAX_BODY_BYTES: int(1, GIB),
  MEMORY_BODY_BYTES: int(0, 256 * 1024),
  SPOOL_DIR: Type.String({ minLength: 1, default: join(tmpdir(), 'cic-gateway') }),
  CIC_BASE_URL: Type.Optional(Type.String({ pattern: '^https?://[^/\\s]+/?$' })),
  CIC_UPLOAD_FOLDER: Type.String({ minLength: 1, default: 'upload' }),
  TOKEN_FALLBACK_LIFETIME_SECONDS: int(10, 900),
  TOKEN_REFRESH_MARGIN_SECONDS: int(0, 60),
  READINESS_CACHE_SECONDS: int(0, 15),
  CIC_CONNECT_TIMEOUT_MS: int(1, 10_000),
  CIC_HEADERS_TIMEOUT_MS: int(1, 120_000),
  CIC_BODY_TIMEOUT_MS: int(1, 60_000),
  SHUTDOWN_DELAY_SECONDS: seconds(0, 5),
  SHUTDOWN_TIMEOUT_SECONDS: seconds(1, 300),
  CIC_RETRIES: Type.Integer({ minimum: 0, maximum: 10, default: 2 }),
  CIC_RETRY_BASE_DELAY_MS: int(0, 200),
  CIC_RETRY_MAX_DELAY_MS: int(0, 5000),
  CIRCUIT_FAILURE_THRESHOLD: int(1, 5),
  CIRCUIT_HALF_OPEN_AFTER_SECONDS: seconds(0.1, 10),
  MAX_CONCURRENT_UPLOADS: int(1, 256),
  MAX_CONNECTIONS: int(1, 1024),
  SERVER_REQUEST_TIMEOUT_SECONDS: seconds(0, 3600),
  SERVER_HEADERS_TIMEOUT_SECONDS: seconds(1, 30),
  SERVER_IDLE_TIMEOUT_SECONDS: seconds(1, 60),
  SERVER_KEEP_ALIVE_TIMEOUT_SECONDS: seconds(1, 72),
  SERVER_LINGER_SECONDS: seconds(0, 5),
  SERVER_LINGER_BYTES: int(0, 128 * 1024 * 1024),
  MAX_EVENT_LOOP_DELAY_MS: int(0, 1000),
  MAX_HEAP_USED_BYTES: int(0, 0),
  IDEMPOTENCY_TTL_SECONDS: int(1, 86400),
  IDEMPOTENCY_MAX_KEYS: int(1, 100000),
  IDEMPOTENCY_MAX_BYTES: int(65536, 268435456),
  IDEMPOTENCY_LEASE_SECONDS: seconds(1, 30),
  GATEWAY_CONFIG_FILE: path(),
  GATEWAY_AUTH: Type.Optional(Type.Enum(['api-key', 'none'])),
  CIC_CA_FILE: path(),
  MAX_HEADER_BYTES: Type.Integer({ minimum: 1024, maximum: 65536, default: 16384 }),
  // The URL is parsed by redis.ts (it may hold a password: no pattern error may quote it).
  REDIS_URL: path(),
  REDIS_CA_FILE: path(),
  REDIS_KEY_PREFIX: Type.String({ minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$', default: 'cic-gateway:' }),
  // Store and forward (outbox.ts): OUTBOX_DIR enables it. Seven days: a long weekend's CIC
  // maintenance plus the time an operator needs to notice the age alert, before a document
  // turns failed (kept, listed and retryable, never dropped).
  OUTBOX_DIR: path(),
  OUTBOX_MAX_BYTES: int(1, GIB),
  OUTBOX_MAX_AGE_SECONDS: seconds(1, 7 * 24 * 3600),
  OUTBOX_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 2 })
})

export type EnvValues = Static<typeof EnvSchema>

/** Validates the shape of every variable at once; undefined (and ajv's messages as problems) when one is wrong. */
export function validateEnv (env: Env, found: Findings): EnvValues | undefined {
  // Only the variables the schema knows are passed, so no other value can leak into a message.
  const data: Record<string, string> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = env[key]
    if (value !== undefined && value !== '') data[key] = value
  }
  try {
    // env-schema adds to the schema it is given: it gets a copy.
    return envSchema<EnvValues>({ schema: structuredClone(EnvSchema), data, env: false, dotenv: false })
  } catch (err) {
    const errors = (err as { errors?: Array<{ instancePath: string, message?: string }> }).errors
    if (errors === undefined) throw err
    for (const e of errors) found.problem(`${e.instancePath.replace(/^\//, '')} ${e.message ?? 'is invalid'}`)
    return undefined
  }
}
