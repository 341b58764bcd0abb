// The configuration the gateway runs with, as loadConfig() hands it over: validated, defaults
// applied, secrets read. The shapes of the inputs (environment, config file) are the schemas'
// own types (env-schema.ts, file.ts); these are the shapes the rest of the gateway reads.
import type { CircuitSettings, RetrySettings } from '../cic/resilience.js'

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

export interface ServerLimits {
  maxConnections: number
  /** Whole request (headers and body) must arrive within this; 0 = no limit. Sized for the largest upload on a slow link. */
  requestTimeoutMs: number
  headersTimeoutMs: number
  /** A connection with no traffic this long is closed (a silent caller cannot hold it). */
  idleTimeoutMs: number
  /** Keep-alive longer than common load balancers' idle timeout (60 s), so they close first. */
  keepAliveTimeoutMs: number
  /** After an answer given while the body still arrives: how long, and how many bytes, the closing connection keeps discarding input. */
  lingerMs: number
  lingerBytes: number
}

/** The shared store of several replicas (REDIS_*): Idempotency-Key records and CIC tokens. */
export interface RedisConfig {
  /** redis://[user@]host[:port][/db] or rediss:// (TLS). */
  url: string
  /** REDIS_PASSWORD or the contents of REDIS_PASSWORD_FILE. */
  password?: string
  /** PEM text of REDIS_CA_FILE, trusted for rediss:// in addition to Node's root CAs. */
  ca?: string
  /** Prefix of every key the gateway writes. */
  keyPrefix: string
}

/** Store and forward (OUTBOX_*): the on-disk queue `Prefer: respond-async` requests are accepted into. */
export interface OutboxConfig {
  /** OUTBOX_DIR: on a persistent volume; accepted documents live here until CIC has them. */
  dir: string
  /** OUTBOX_MAX_BYTES: capacity; past it async requests get 503 + Retry-After. */
  maxBytes: number
  /** OUTBOX_MAX_AGE_SECONDS in ms: a delivery without success this long becomes failed. */
  maxAgeMs: number
  /** OUTBOX_CONCURRENCY: uploads at once per mailbox from the outbox. */
  concurrency: number
  /** Demo mode's outbox: a directory of this process, removed when the gateway stops. */
  temporary?: boolean
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
  /** REDIS_URL and the rest; undefined when REDIS_URL is unset (state stays in this process). */
  redis?: RedisConfig
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
  /** leaseMs: how long a claim outlives a replica that died holding it (renewed every third of it). */
  idempotency: { ttlMs: number, maxKeys: number, maxBytes: number, leaseMs: number }
  /** OUTBOX_DIR and the rest; undefined when OUTBOX_DIR is unset (outside demo mode): `Prefer: respond-async` is then ignored. */
  outbox?: OutboxConfig
}
