// Environment -> typed, validated Config. Validation is env-schema (Ajv), so every bad
// variable is reported in one message; secrets are read here (including *_FILE mounts)
// and never appear in an error message.
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import envSchema from 'env-schema'
import type { CircuitSettings, RetrySettings } from './cic/resilience.js'

export interface MailboxConfig {
  /** Name used in routes and metrics (`default` for env-only configuration). */
  name: string
  baseUrl: string
  username: string
  password: string
  uploadFolder: string
}

export interface CicTimeouts {
  connectTimeoutMs: number
  /** Time from the end of our request to CIC's response headers. */
  headersTimeoutMs: number
  /** Longest silence while a body streams in either direction (idle, not total). */
  bodyTimeoutMs: number
}

export interface Config {
  nodeEnv: string
  production: boolean
  host: string
  port: number
  /** When set, GET /metrics is served only on this port (same HOST), not on the API port. */
  metricsPort: number | undefined
  logLevel: string
  maxBodyBytes: number
  /** Known-length bodies up to this size are kept in memory so a 401 can be replayed. */
  memoryBodyBytes: number
  spoolDir: string
  /** No CIC tenant configured: main() starts an in-process simulator. */
  demo: boolean
  mailboxes: MailboxConfig[]
  defaultMailbox: string | undefined
  tokenFallbackLifetimeSeconds: number
  tokenRefreshMarginSeconds: number
  readinessCacheSeconds: number
  cic: CicTimeouts
  /** After SIGTERM, keep serving new requests this long while load balancers drop the pod. */
  shutdownDelayMs: number
  /** Longest wait for in-flight uploads after that; then the process exits anyway. */
  shutdownTimeoutMs: number
  retry: RetrySettings
  circuit: CircuitSettings
  /** Uploads handled at once; more get 503 + Retry-After at once (memory stays bounded). */
  maxConcurrentUploads: number
  server: ServerLimits
  /** @fastify/under-pressure thresholds; 0 disables one. */
  pressure: { maxEventLoopDelayMs: number, maxHeapUsedBytes: number }
  idempotency: { ttlMs: number, maxKeys: number }
}

export interface ServerLimits {
  maxConnections: number
  /** Whole request (headers and body) must arrive within this; 0 = no limit. Sized for the largest upload on a slow link. */
  requestTimeoutMs: number
  headersTimeoutMs: number
  /** A connection with no traffic this long is closed (a silent caller cannot hold it). */
  idleTimeoutMs: number
  /** Keep-alive longer than common load balancers' idle timeout (60 s), so they close first. */
  keepAliveTimeoutMs: number
}

export class ConfigError extends Error {
  constructor (public readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
  }
}

const GIB = 1024 * 1024 * 1024

const schema = {
  type: 'object',
  properties: {
    NODE_ENV: { type: 'string', default: 'development' },
    HOST: { type: 'string', minLength: 1, default: '0.0.0.0' },
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    METRICS_PORT: { type: 'integer', minimum: 0, maximum: 65535 },
    LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    MAX_BODY_BYTES: { type: 'integer', minimum: 1, default: GIB },
    MEMORY_BODY_BYTES: { type: 'integer', minimum: 0, default: 256 * 1024 },
    SPOOL_DIR: { type: 'string', minLength: 1, default: join(tmpdir(), 'cic-gateway') },
    CIC_BASE_URL: { type: 'string', pattern: '^https?://[^/\\s]+/?$' },
    CIC_UPLOAD_FOLDER: { type: 'string', minLength: 1, default: 'upload' },
    TOKEN_FALLBACK_LIFETIME_SECONDS: { type: 'integer', minimum: 10, default: 900 },
    TOKEN_REFRESH_MARGIN_SECONDS: { type: 'integer', minimum: 0, default: 60 },
    READINESS_CACHE_SECONDS: { type: 'integer', minimum: 0, default: 15 },
    CIC_CONNECT_TIMEOUT_MS: { type: 'integer', minimum: 1, default: 10_000 },
    CIC_HEADERS_TIMEOUT_MS: { type: 'integer', minimum: 1, default: 120_000 },
    CIC_BODY_TIMEOUT_MS: { type: 'integer', minimum: 1, default: 60_000 },
    SHUTDOWN_DELAY_SECONDS: { type: 'number', minimum: 0, default: 5 },
    SHUTDOWN_TIMEOUT_SECONDS: { type: 'number', minimum: 1, default: 300 },
    CIC_RETRIES: { type: 'integer', minimum: 0, maximum: 10, default: 2 },
    CIC_RETRY_BASE_DELAY_MS: { type: 'integer', minimum: 0, default: 200 },
    CIC_RETRY_MAX_DELAY_MS: { type: 'integer', minimum: 0, default: 5000 },
    CIRCUIT_FAILURE_THRESHOLD: { type: 'integer', minimum: 1, default: 5 },
    CIRCUIT_HALF_OPEN_AFTER_SECONDS: { type: 'number', minimum: 0.1, default: 10 },
    MAX_CONCURRENT_UPLOADS: { type: 'integer', minimum: 1, default: 256 },
    MAX_CONNECTIONS: { type: 'integer', minimum: 1, default: 1024 },
    SERVER_REQUEST_TIMEOUT_SECONDS: { type: 'number', minimum: 0, default: 3600 },
    SERVER_HEADERS_TIMEOUT_SECONDS: { type: 'number', minimum: 1, default: 30 },
    SERVER_IDLE_TIMEOUT_SECONDS: { type: 'number', minimum: 1, default: 60 },
    SERVER_KEEP_ALIVE_TIMEOUT_SECONDS: { type: 'number', minimum: 1, default: 72 },
    MAX_EVENT_LOOP_DELAY_MS: { type: 'integer', minimum: 0, default: 1000 },
    MAX_HEAP_USED_BYTES: { type: 'integer', minimum: 0, default: 0 },
    IDEMPOTENCY_TTL_SECONDS: { type: 'integer', minimum: 1, default: 86400 },
    IDEMPOTENCY_MAX_KEYS: { type: 'integer', minimum: 1, default: 100000 }
  }
} as const

interface EnvValues {
  NODE_ENV: string
  HOST: string
  PORT: number
  METRICS_PORT?: number
  LOG_LEVEL: string
  MAX_BODY_BYTES: number
  MEMORY_BODY_BYTES: number
  SPOOL_DIR: string
  CIC_BASE_URL?: string
  CIC_UPLOAD_FOLDER: string
  TOKEN_FALLBACK_LIFETIME_SECONDS: number
  TOKEN_REFRESH_MARGIN_SECONDS: number
  READINESS_CACHE_SECONDS: number
  CIC_CONNECT_TIMEOUT_MS: number
  CIC_HEADERS_TIMEOUT_MS: number
  CIC_BODY_TIMEOUT_MS: number
  SHUTDOWN_DELAY_SECONDS: number
  SHUTDOWN_TIMEOUT_SECONDS: number
  CIC_RETRIES: number
  CIC_RETRY_BASE_DELAY_MS: number
  CIC_RETRY_MAX_DELAY_MS: number
  CIRCUIT_FAILURE_THRESHOLD: number
  CIRCUIT_HALF_OPEN_AFTER_SECONDS: number
  MAX_CONCURRENT_UPLOADS: number
  MAX_CONNECTIONS: number
  SERVER_REQUEST_TIMEOUT_SECONDS: number
  SERVER_HEADERS_TIMEOUT_SECONDS: number
  SERVER_IDLE_TIMEOUT_SECONDS: number
  SERVER_KEEP_ALIVE_TIMEOUT_SECONDS: number
  MAX_EVENT_LOOP_DELAY_MS: number
  MAX_HEAP_USED_BYTES: number
  IDEMPOTENCY_TTL_SECONDS: number
  IDEMPOTENCY_MAX_KEYS: number
}

type Env = Record<string, string | undefined>

/** Reads NAME, or the contents of the file named by NAME_FILE (a mounted secret). */
export function readSecret (env: Env, name: string, problems: string[]): string | undefined {
  const direct = env[name]
  const file = env[`${name}_FILE`]
  if (direct !== undefined && direct !== '' && file !== undefined && file !== '') {
    problems.push(`${name} and ${name}_FILE are both set: set only one`)
    return undefined
  }
  if (file !== undefined && file !== '') {
    try {
      // Mounted secrets usually end with a newline that is not part of the value.
      const value = readFileSync(file, 'utf8').replace(/\r?\n$/, '')
      if (value === '') problems.push(`${name}_FILE (${file}) is empty`)
      return value
    } catch (err) {
      problems.push(`${name}_FILE (${file}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
      return undefined
    }
  }
  return direct === '' ? undefined : direct
}

/** Validates the shape of every variable at once; returns ajv's messages as problems. */
function validateEnv (env: Env, problems: string[]): EnvValues | undefined {
  // Only the variables the schema knows are passed, so no other value can leak into a message.
  const data: Record<string, string> = {}
  for (const key of Object.keys(schema.properties)) {
    const value = env[key]
    if (value !== undefined && value !== '') data[key] = value
  }
  try {
    return envSchema<EnvValues>({ schema: structuredClone(schema) as object, data, env: false, dotenv: false })
  } catch (err) {
    const errors = (err as { errors?: Array<{ instancePath: string, message?: string }> }).errors
    if (errors === undefined) throw err
    for (const e of errors) problems.push(`${e.instancePath.replace(/^\//, '')} ${e.message ?? 'is invalid'}`)
    return undefined
  }
}

export function loadConfig (env: Env = process.env): Config {
  const problems: string[] = []
  const values = validateEnv(env, problems)
  const username = readSecret(env, 'CIC_USERNAME', problems)
  const password = readSecret(env, 'CIC_PASSWORD', problems)
  const nodeEnv = env.NODE_ENV ?? 'development'
  const production = nodeEnv === 'production'
  const baseUrl = values?.CIC_BASE_URL?.replace(/\/$/, '')

  const demo = baseUrl === undefined && username === undefined && password === undefined
  if (demo && production) {
    problems.push('CIC_BASE_URL is required when NODE_ENV=production (the bundled simulator is for demos only)')
  }
  if (!demo) {
    if (baseUrl === undefined && values !== undefined) problems.push('CIC_BASE_URL is required when CIC credentials are set')
    if (username === undefined && !problems.some(p => p.startsWith('CIC_USERNAME'))) problems.push('CIC_USERNAME (or CIC_USERNAME_FILE) is required')
    if (password === undefined && !problems.some(p => p.startsWith('CIC_PASSWORD'))) problems.push('CIC_PASSWORD (or CIC_PASSWORD_FILE) is required')
  }
  if (values !== undefined && values.METRICS_PORT !== undefined && values.METRICS_PORT !== 0 && values.METRICS_PORT === values.PORT) {
    problems.push('METRICS_PORT must differ from PORT (unset it to serve /metrics on the API port)')
  }
  if (problems.length > 0 || values === undefined) throw new ConfigError(problems)

  const mailboxes: MailboxConfig[] = demo
    ? []
    : [{ name: 'default', baseUrl: baseUrl!, username: username!, password: password!, uploadFolder: values.CIC_UPLOAD_FOLDER }]

  return {
    nodeEnv,
    production,
    host: values.HOST,
    port: values.PORT,
    metricsPort: values.METRICS_PORT,
    logLevel: values.LOG_LEVEL,
    maxBodyBytes: values.MAX_BODY_BYTES,
    memoryBodyBytes: Math.min(values.MEMORY_BODY_BYTES, values.MAX_BODY_BYTES),
    spoolDir: values.SPOOL_DIR,
    demo,
    mailboxes,
    defaultMailbox: mailboxes[0]?.name,
    tokenFallbackLifetimeSeconds: values.TOKEN_FALLBACK_LIFETIME_SECONDS,
    tokenRefreshMarginSeconds: values.TOKEN_REFRESH_MARGIN_SECONDS,
    readinessCacheSeconds: values.READINESS_CACHE_SECONDS,
    cic: {
      connectTimeoutMs: values.CIC_CONNECT_TIMEOUT_MS,
      headersTimeoutMs: values.CIC_HEADERS_TIMEOUT_MS,
      bodyTimeoutMs: values.CIC_BODY_TIMEOUT_MS
    },
    shutdownDelayMs: values.SHUTDOWN_DELAY_SECONDS * 1000,
    shutdownTimeoutMs: values.SHUTDOWN_TIMEOUT_SECONDS * 1000,
    retry: { retries: values.CIC_RETRIES, baseDelayMs: values.CIC_RETRY_BASE_DELAY_MS, maxDelayMs: values.CIC_RETRY_MAX_DELAY_MS },
    circuit: { failureThreshold: values.CIRCUIT_FAILURE_THRESHOLD, halfOpenAfterMs: values.CIRCUIT_HALF_OPEN_AFTER_SECONDS * 1000 },
    maxConcurrentUploads: values.MAX_CONCURRENT_UPLOADS,
    server: {
      maxConnections: values.MAX_CONNECTIONS,
      requestTimeoutMs: values.SERVER_REQUEST_TIMEOUT_SECONDS * 1000,
      headersTimeoutMs: values.SERVER_HEADERS_TIMEOUT_SECONDS * 1000,
      idleTimeoutMs: values.SERVER_IDLE_TIMEOUT_SECONDS * 1000,
      keepAliveTimeoutMs: values.SERVER_KEEP_ALIVE_TIMEOUT_SECONDS * 1000
    },
    pressure: { maxEventLoopDelayMs: values.MAX_EVENT_LOOP_DELAY_MS, maxHeapUsedBytes: values.MAX_HEAP_USED_BYTES },
    idempotency: { ttlMs: values.IDEMPOTENCY_TTL_SECONDS * 1000, maxKeys: values.IDEMPOTENCY_MAX_KEYS }
  }
}
