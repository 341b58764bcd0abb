// Environment -> typed, validated Config. Validation is env-schema (Ajv), so every bad
// variable is reported in one message; secrets are read here (including *_FILE mounts)
// and never appear in an error message.
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import envSchema from 'env-schema'
import type { CircuitSettings, RetrySettings } from './cic/resilience.js'
import { loadConfigFile } from './config-file.js'
import { checkKeys, keyDigest, splitKeys } from './keys.js'
import { readSecretFile } from './secret-file.js'

export interface MailboxConfig {
  /** Name used in routes and metrics (`default` for env-only configuration). */
  name: string
  baseUrl: string
  username: string
  password: string
  /** Where the password was read from: it is read again before every login, so a rotated secret needs no restart. */
  passwordFile?: string
  uploadFolder: string
}

/** One caller of the gateway: who it is, the SHA-256 of each of its keys, where it may deliver. */
export interface CallerConfig {
  name: string
  keyDigests: Buffer[]
  /** '*' for every mailbox (keys from GATEWAY_API_KEYS). */
  mailboxes: string[] | '*'
}

/**
 * 'api-key': callers must present a key. 'none': GATEWAY_AUTH=none, set on purpose (a mesh
 * authenticates). 'no-keys': no key configured outside production (demo, development).
 */
export type AuthMode = 'api-key' | 'none' | 'no-keys'

export interface AuthConfig {
  mode: AuthMode
  callers: CallerConfig[]
}

/** How CIC is reached: a proxy (HTTPS_PROXY/NO_PROXY), and extra CAs for TLS-inspecting proxies. */
export interface EgressConfig {
  httpProxy?: string
  httpsProxy?: string
  noProxy?: string
  /** PEM bundle from CIC_CA_FILE, trusted in addition to Node's root CAs. */
  ca?: string
  caFile?: string
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
  /** GATEWAY_CONFIG_FILE, when mailboxes and callers come from a file. */
  configFile: string | undefined
  auth: AuthConfig
  egress: EgressConfig
  /** Largest request head (request line and headers) the server reads. */
  maxHeaderBytes: number
  /** Every secret value configured (passwords, plain keys, proxy credentials): tests scan logs for them. */
  secrets: string[]
  /** Accepted but unwise settings (e.g. short API keys), logged as warnings at start-up. */
  warnings: string[]
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
  idempotency: { ttlMs: number, maxKeys: number, maxBytes: number }
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
    IDEMPOTENCY_MAX_KEYS: { type: 'integer', minimum: 1, default: 100000 },
    IDEMPOTENCY_MAX_BYTES: { type: 'integer', minimum: 65536, default: 268435456 },
    GATEWAY_CONFIG_FILE: { type: 'string', minLength: 1 },
    GATEWAY_AUTH: { type: 'string', enum: ['api-key', 'none'] },
    CIC_CA_FILE: { type: 'string', minLength: 1 },
    MAX_HEADER_BYTES: { type: 'integer', minimum: 1024, maximum: 65536, default: 16384 }
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
  IDEMPOTENCY_MAX_BYTES: number
  GATEWAY_CONFIG_FILE?: string
  GATEWAY_AUTH?: 'api-key' | 'none'
  CIC_CA_FILE?: string
  MAX_HEADER_BYTES: number
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
  if (file !== undefined && file !== '') return readSecretFile(file, `${name}_FILE`, problems)
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
  const configFile = values?.GATEWAY_CONFIG_FILE
  const secrets: string[] = []
  const warnings: string[] = []

  let mailboxes: MailboxConfig[] = []
  let defaultMailbox: string | undefined
  let fileCallers: CallerConfig[] = []
  const demo = configFile === undefined && baseUrl === undefined && username === undefined && password === undefined
  if (configFile !== undefined) {
    if (baseUrl !== undefined || username !== undefined || password !== undefined) {
      problems.push('GATEWAY_CONFIG_FILE declares the mailboxes: unset CIC_BASE_URL, CIC_USERNAME and CIC_PASSWORD (and their _FILE forms)')
    }
    const file = loadConfigFile(configFile, { uploadFolder: values?.CIC_UPLOAD_FOLDER ?? 'upload' }, problems)
    if (file !== undefined) {
      ({ mailboxes, defaultMailbox } = file)
      fileCallers = file.callers
      secrets.push(...file.secrets)
      warnings.push(...file.warnings)
    }
  } else if (demo) {
    if (production) problems.push('CIC_BASE_URL is required when NODE_ENV=production (the bundled simulator is for demos only)')
  } else {
    if (baseUrl === undefined && values !== undefined) problems.push('CIC_BASE_URL is required when CIC credentials are set')
    if (username === undefined && !problems.some(p => p.startsWith('CIC_USERNAME'))) problems.push('CIC_USERNAME (or CIC_USERNAME_FILE) is required')
    if (password === undefined && !problems.some(p => p.startsWith('CIC_PASSWORD'))) problems.push('CIC_PASSWORD (or CIC_PASSWORD_FILE) is required')
    if (baseUrl !== undefined && username !== undefined && password !== undefined && values !== undefined) {
      const passwordFile = env.CIC_PASSWORD_FILE !== undefined && env.CIC_PASSWORD_FILE !== '' ? env.CIC_PASSWORD_FILE : undefined
      mailboxes = [{ name: 'default', baseUrl, username, password, passwordFile, uploadFolder: values.CIC_UPLOAD_FOLDER }]
      defaultMailbox = 'default'
    }
  }
  if (password !== undefined) secrets.push(password)
  if (values !== undefined && values.METRICS_PORT !== undefined && values.METRICS_PORT !== 0 && values.METRICS_PORT === values.PORT) {
    problems.push('METRICS_PORT must differ from PORT (unset it to serve /metrics on the API port)')
  }

  if (production) {
    for (const m of mailboxes) {
      // Credentials never cross a network in clear text; a local simulator is not a network.
      if (!secureBaseUrl(m.baseUrl)) {
        const where = configFile === undefined ? 'CIC_BASE_URL' : `GATEWAY_CONFIG_FILE: mailboxes.${m.name}.baseUrl`
        problems.push(`${where} must be https:// when NODE_ENV=production (plain http is allowed only to a loopback host)`)
      }
    }
  }

  const auth = loadAuth(env, values, production, fileCallers, secrets, warnings, problems)
  const egress = loadEgress(env, values, secrets, problems)
  if (problems.length > 0 || values === undefined) throw new ConfigError(problems)

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
    defaultMailbox,
    configFile,
    auth,
    egress,
    maxHeaderBytes: values.MAX_HEADER_BYTES,
    secrets,
    warnings,
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
    idempotency: { ttlMs: values.IDEMPOTENCY_TTL_SECONDS * 1000, maxKeys: values.IDEMPOTENCY_MAX_KEYS, maxBytes: values.IDEMPOTENCY_MAX_BYTES }
  }
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i

/** https://, or plain http to a loopback host. */
export function secureBaseUrl (baseUrl: string): boolean {
  const url = new URL(baseUrl)
  return url.protocol === 'https:' || LOOPBACK.test(url.hostname)
}

function loadAuth (env: Env, values: EnvValues | undefined, production: boolean, fileCallers: CallerConfig[], secrets: string[], warnings: string[], problems: string[]): AuthConfig {
  const raw = readSecret(env, 'GATEWAY_API_KEYS', problems)
  const source = env.GATEWAY_API_KEYS_FILE !== undefined && env.GATEWAY_API_KEYS_FILE !== '' ? 'GATEWAY_API_KEYS_FILE' : 'GATEWAY_API_KEYS'
  const keys = raw === undefined ? [] : splitKeys(raw)
  if (raw !== undefined && keys.length === 0) problems.push(`${source} holds no key`)
  checkKeys(keys, source, problems, warnings)
  secrets.push(...keys)
  // Keys from the environment are not tied to a mailbox: they may deliver to every one.
  const envCallers: CallerConfig[] = keys.map((key, i) => ({ name: `api-key-${i + 1}`, keyDigests: [keyDigest(key)], mailboxes: '*' }))
  const callers = [...fileCallers, ...envCallers]

  const seen = new Map<string, string>()
  for (const c of callers) {
    for (const d of c.keyDigests) {
      const other = seen.get(d.toString('hex'))
      if (other !== undefined && other !== c.name) problems.push(`the same API key is configured for ${other} and ${c.name}: every caller needs its own`)
      seen.set(d.toString('hex'), c.name)
    }
  }

  const requested = values?.GATEWAY_AUTH
  if (requested === 'none') {
    if (callers.length > 0) problems.push('GATEWAY_AUTH=none, yet API keys are configured: remove the keys or GATEWAY_AUTH')
    return { mode: 'none', callers: [] }
  }
  if (callers.length === 0) {
    if (production || requested === 'api-key') {
      problems.push(`no API key is configured${production ? ' and NODE_ENV=production' : ''}: set GATEWAY_API_KEYS, GATEWAY_API_KEYS_FILE or callers in GATEWAY_CONFIG_FILE (or GATEWAY_AUTH=none when a mesh authenticates callers)`)
    }
    return { mode: 'no-keys', callers: [] }
  }
  return { mode: 'api-key', callers }
}

/** The first set of the variables, lower case first as curl and undici read them. */
function firstEnv (env: Env, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = env[n]
    if (v !== undefined && v !== '') return v
  }
  return undefined
}

function loadEgress (env: Env, values: EnvValues | undefined, secrets: string[], problems: string[]): EgressConfig {
  const egress: EgressConfig = {}
  const proxies = { httpProxy: ['http_proxy', 'HTTP_PROXY'], httpsProxy: ['https_proxy', 'HTTPS_PROXY'] } as const
  for (const [key, names] of Object.entries(proxies) as Array<[keyof typeof proxies, readonly string[]]>) {
    const value = firstEnv(env, ...names)
    if (value === undefined) continue
    let url: URL
    try {
      url = new URL(value)
    } catch {
      // The value may hold proxy credentials: it is not printed.
      problems.push(`${names[1]!} is not a URL (expected http://host:port)`)
      continue
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      problems.push(`${names[1]!} must be an http:// or https:// proxy URL`)
      continue
    }
    if (url.password !== '') secrets.push(url.password, decodeURIComponent(url.password))
    egress[key] = value
  }
  egress.noProxy = firstEnv(env, 'no_proxy', 'NO_PROXY')

  const caFile = values?.CIC_CA_FILE
  if (caFile !== undefined) {
    const pem = readSecretFile(caFile, 'CIC_CA_FILE', problems)
    if (pem !== undefined && !pem.includes('-----BEGIN CERTIFICATE-----')) problems.push(`CIC_CA_FILE (${caFile}) holds no PEM certificate`)
    else if (pem !== undefined) {
      egress.ca = pem
      egress.caFile = caFile
    }
  }
  return egress
}
