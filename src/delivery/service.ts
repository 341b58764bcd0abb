// The delivery service: named mailboxes, and the one operation the HTTP layer needs,
// deliver(document) -> CIC's receipt or a DeliveryFailure. Also answers readiness.
import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { CicClient, type CancelSignal, type CicAccount, type CicCallObserver } from '../cic/client.js'
import { FolderResolver, type FolderTarget } from '../cic/folders.js'
import { mailboxTarget } from '../cic/credentials.js'
import { CicMailbox, type CircuitStateName } from '../cic/mailbox.js'
import { lookupRetryPolicy, type CircuitSettings, type RetrySettings } from '../cic/resilience.js'
import { Secrets } from '../cic/secrets.js'
import type { TokenStore } from '../cic/token-store.js'
import { accountKey, TokenCache } from '../cic/tokens.js'
import { createCicDispatcher } from '../cic/dispatcher.js'
import type { Config, MailboxConfig } from '../config/index.js'
import type { PreparedBody } from './body.js'
import { toDeliveryFailure } from './failure.js'

export interface DeliveryServiceOptions {
  mailboxes: MailboxConfig[]
  defaultMailbox: string | undefined
  dispatcher: Dispatcher
  logger: Logger
  tokenRefreshMarginSeconds: number
  tokenFallbackLifetimeSeconds: number
  readinessCacheSeconds: number
  retry: RetrySettings
  circuit: CircuitSettings
  onCircuitChange?: (mailbox: string, state: CircuitStateName) => void
  /** With REDIS_URL: CIC tokens shared by every replica, so one login serves them all. */
  tokenStore?: TokenStore
  /** Metrics: every CIC call and every login (src/metrics.ts implements it). */
  observer?: DeliveryObserver
  /**
   * Every configured secret (Config.secrets: passwords, caller keys, proxy credentials): cut
   * out of any text CIC sends back, whichever mailbox's call it answers.
   */
  secrets?: Iterable<string>
}

export type { CancelSignal }

export interface DeliveryObserver {
  cicCall?: CicCallObserver
  login?: (mailbox: string, result: 'success' | 'failure') => void
}

export interface DocumentRequest {
  mailbox: string
  filename: string
  body: PreparedBody
  requestId: string
  signal?: CancelSignal
}

export interface DeliveryReceipt {
  mailbox: string
  /** CIC's 201 body, byte for byte. */
  raw: Buffer
  fileId: string
  bytes: number
  sha256: Buffer
  attempts: number
}

/**
 * Why a mailbox is not ready: the code of the delivery failure its check met. A stable code
 * only: /readyz needs no key, and CIC's own text (which may name accounts or people) goes to
 * the log, never into the answer.
 */
export const READINESS_REASONS = [
  'cic-login-failed',
  'cic-folder-lookup-failed',
  'cic-unreachable',
  'cic-timeout',
  'cic-connection-lost',
  'cic-bad-response',
  'cic-tls-untrusted',
  'cic-unavailable',
  'cic-rate-limited',
  'cic-error',
  'aborted',
  'internal-error'
] as const

export type ReadinessReason = typeof READINESS_REASONS[number]

export interface MailboxReadiness {
  ready: boolean
  reason?: ReadinessReason
}

interface CachedReadiness {
  at: number
  result: Promise<MailboxReadiness>
}

export class DeliveryService {
  readonly defaultMailbox: string | undefined
  private readonly mailboxes = new Map<string, CicMailbox>()
  private readonly readiness = new Map<string, CachedReadiness>()

  constructor (private readonly opts: DeliveryServiceOptions) {
    // The mailboxes' passwords are added here too (a password file read at start-up is in the list already; a rotated one is added at login).
    const secrets = new Secrets([...opts.secrets ?? [], ...opts.mailboxes.map(m => m.password)])
    const client = new CicClient(opts.dispatcher, opts.observer?.cicCall, secrets)
    const names = new Map<string, string>()
    const lookupRetry = lookupRetryPolicy(opts.retry)
    const tokens = new TokenCache(client, {
      retry: lookupRetry,
      refreshMarginMs: opts.tokenRefreshMarginSeconds * 1000,
      fallbackLifetimeMs: opts.tokenFallbackLifetimeSeconds * 1000,
      // requestId: the request whose arrival triggered the login (one login serves many requests).
      onLogin: (account: CicAccount, outcome, err, requestId) => {
        const mailbox = names.get(accountKey(account))
        if (mailbox !== undefined) opts.observer?.login?.(mailbox, outcome)
        if (outcome === 'success') opts.logger.info({ event: 'cic.login', mailbox, outcome, requestId }, 'logged in to CIC')
        else opts.logger.warn({ event: 'cic.login', mailbox, outcome, requestId, err: describe(err) }, 'CIC login failed')
      },
      store: opts.tokenStore,
      // The shared store down: this replica logs in itself (redis.ts logs the outage once).
      onStoreError: () => {}
    })
    const folders = new FolderResolver(client, lookupRetry, (target: FolderTarget, folderId, requestId) => {
      opts.logger.info({ event: 'cic.folder', mailbox: names.get(accountKey(target)), folder: target.uploadFolder, folderId, requestId }, 'upload folder resolved')
    })
    for (const m of opts.mailboxes) {
      names.set(accountKey(m), m.name)
      const target = mailboxTarget(m, err => { opts.logger.warn({ event: 'cic.password-file', mailbox: m.name, code: (err as NodeJS.ErrnoException).code }, 'password file cannot be read; using the last password read') })
      this.mailboxes.set(m.name, new CicMailbox(target, client, tokens, folders, {
        retry: opts.retry,
        lookupRetry,
        circuit: opts.circuit,
        onCircuitChange: (mailbox, state) => {
          opts.logger.warn({ event: 'cic.circuit', mailbox, state }, `circuit ${state}`)
          opts.onCircuitChange?.(mailbox, state)
        }
      }))
    }
    this.defaultMailbox = opts.defaultMailbox
  }

  has (mailbox: string): boolean {
    return this.mailboxes.has(mailbox)
  }

  mailboxNames (): string[] {
    return [...this.mailboxes.keys()]
  }

  async deliver (req: DocumentRequest): Promise<DeliveryReceipt> {
    const mailbox = this.mailboxes.get(req.mailbox)
    if (mailbox === undefined) throw new Error(`unknown mailbox ${req.mailbox}`)
    try {
      const result = await mailbox.upload(req.filename, req.body, { requestId: req.requestId, signal: req.signal })
      const sha256 = req.body.sha256()
      if (sha256 === undefined) throw new Error('body digest missing after upload')
      return { mailbox: mailbox.name, raw: result.raw, fileId: result.fileId, bytes: req.body.length, sha256, attempts: result.attempts }
    } catch (err) {
      throw toDeliveryFailure(err, { replayable: req.body.replayable })
    }
  }

  /**
   * CIC's resource for a file of that name in the mailbox's upload folder, as JSON bytes,
   * or undefined. Settles a delivery whose outcome was unknown before it is sent again.
   */
  async findDelivered (mailboxName: string, filename: string, requestId: string): Promise<{ raw: Buffer, fileId: string } | undefined> {
    const mailbox = this.mailboxes.get(mailboxName)
    if (mailbox === undefined) throw new Error(`unknown mailbox ${mailboxName}`)
    try {
      const found = await mailbox.findUploaded(filename, { requestId })
      return found === undefined ? undefined : { raw: Buffer.from(JSON.stringify(found)), fileId: found.id }
    } catch (err) {
      throw toDeliveryFailure(err, { replayable: false })
    }
  }

  /** Whether every mailbox can deliver: cached, so probes do not hit CIC on every call. */
  async ready (): Promise<{ ready: boolean, mailboxes: Record<string, MailboxReadiness> }> {
    const entries = await Promise.all([...this.mailboxes.values()].map(async m => [m.name, await this.mailboxReadiness(m)] as const))
    return { ready: entries.every(([, r]) => r.ready), mailboxes: Object.fromEntries(entries) }
  }

  private async mailboxReadiness (mailbox: CicMailbox): Promise<MailboxReadiness> {
    const now = Date.now()
    const cached = this.readiness.get(mailbox.name)
    if (cached !== undefined && now - cached.at < this.opts.readinessCacheSeconds * 1000) return await cached.result
    // A warm mailbox (token and folder cached) is ready without asking CIC.
    if (mailbox.isWarm()) return { ready: true }
    const result = mailbox.prepare().then(
      () => ({ ready: true }),
      (err: unknown): MailboxReadiness => {
        const reason = readinessReason(err)
        // One line per failed check (not per probe: the result is cached). CIC's text was scrubbed of every secret by the client.
        this.opts.logger.warn({ event: 'readiness', mailbox: mailbox.name, reason, err: describe(err) }, 'mailbox not ready')
        return { ready: false, reason }
      }
    )
    this.readiness.set(mailbox.name, { at: now, result })
    return await result
  }

  async close (): Promise<void> {
    await this.opts.dispatcher.close()
  }
}

/** The stable code of the failure, never its text. */
function readinessReason (err: unknown): ReadinessReason {
  const code = toDeliveryFailure(err, { replayable: false }).code
  return (READINESS_REASONS as readonly string[]).includes(code) ? code as ReadinessReason : 'internal-error'
}

function describe (err: unknown): { message: string, status?: number } {
  if (err instanceof Error) return { message: err.message, status: (err as { status?: number }).status }
  return { message: String(err) }
}

/** What a DeliveryService takes from the config (the outbox test runner passes no egress). */
export type DeliveryConfig = Pick<Config, 'mailboxes' | 'defaultMailbox' | 'cic' | 'tokenRefreshMarginSeconds' | 'tokenFallbackLifetimeSeconds' | 'readinessCacheSeconds' | 'retry' | 'circuit'> & Partial<Pick<Config, 'egress'>> & { secrets: Iterable<string> }

/** The DeliveryService of a config: its CIC connections and mailboxes. */
export function deliveryServiceFor (config: DeliveryConfig, logger: Logger, extras: Pick<DeliveryServiceOptions, 'tokenStore' | 'onCircuitChange' | 'observer'> = {}): DeliveryService {
  return new DeliveryService({
    mailboxes: config.mailboxes,
    defaultMailbox: config.defaultMailbox,
    dispatcher: createCicDispatcher(config.cic, config.egress),
    logger,
    tokenRefreshMarginSeconds: config.tokenRefreshMarginSeconds,
    tokenFallbackLifetimeSeconds: config.tokenFallbackLifetimeSeconds,
    readinessCacheSeconds: config.readinessCacheSeconds,
    retry: config.retry,
    circuit: config.circuit,
    secrets: [...config.secrets],
    ...extras
  })
}
