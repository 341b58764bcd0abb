// One CIC partner mailbox: its account, cached token and upload folder, its circuit
// breaker, and the upload with the recoveries CIC's protocol allows: a revoked token or a
// forgotten folder is refreshed, and an upload CIC certainly did not store is sent again,
// only if the body was kept.
import type { CircuitBreakerPolicy, IPolicy, RetryPolicy } from 'cockatiel'
import type { UploadBody } from './body.js'
import type { CallOptions, CicClient, CicResource, ListEnvelope, UploadResult } from './client.js'
import { CicError } from './errors.js'
import type { FolderResolver, FolderTarget } from './folders.js'
import { BrokenCircuitError, CircuitState, createCircuitBreaker, uploadRetryPolicy, type CircuitSettings, type RetrySettings } from './resilience.js'
import type { TokenCache } from './tokens.js'

export interface MailboxTarget extends FolderTarget {
  name: string
}

export interface MailboxUploadResult extends UploadResult {
  attempts: number
}

export type CircuitStateName = 'closed' | 'open' | 'half-open'

/** Thrown instead of calling CIC while the circuit is open (or a probe is running). */
export class CircuitOpenError extends Error {
  constructor (readonly retryAfterSeconds: number) {
    super('CIC failed repeatedly: the circuit is open, uploads are refused until a probe succeeds')
    this.name = 'CircuitOpenError'
  }
}

export interface MailboxOptions {
  retry: RetrySettings
  /** Retries the folder listing used to settle unknown outcomes. */
  lookupRetry: IPolicy
  circuit: CircuitSettings
  onCircuitChange?: (mailbox: string, state: CircuitStateName) => void
}

const STATE_NAMES: Record<number, CircuitStateName> = { [CircuitState.Closed]: 'closed', [CircuitState.Open]: 'open', [CircuitState.HalfOpen]: 'half-open', [CircuitState.Isolated]: 'open' }

export class CicMailbox {
  private readonly breaker: CircuitBreakerPolicy
  // Built once: a policy holds no per-call state, and building one per upload costs allocations.
  private readonly replayableRetry: RetryPolicy
  private readonly streamedRetry: RetryPolicy
  private openedAt = 0

  constructor (
    readonly target: MailboxTarget,
    private readonly client: CicClient,
    private readonly tokens: TokenCache,
    private readonly folders: FolderResolver,
    private readonly opts: MailboxOptions
  ) {
    this.breaker = createCircuitBreaker(opts.circuit)
    this.replayableRetry = uploadRetryPolicy(opts.retry, true)
    this.streamedRetry = uploadRetryPolicy(opts.retry, false)
    this.breaker.onStateChange(state => {
      if (state === CircuitState.Open) this.openedAt = Date.now()
      opts.onCircuitChange?.(target.name, STATE_NAMES[state] ?? 'closed')
    })
  }

  get name (): string {
    return this.target.name
  }

  /** Logs in and resolves the upload folder (from cache when possible). */
  async prepare (opts: CallOptions = {}): Promise<{ token: string, folderId: string }> {
    for (let attempt = 1; ; attempt++) {
      const token = await this.tokens.get(this.target, opts)
      try {
        return { token, folderId: await this.folders.get(this.target, token, opts) }
      } catch (err) {
        // A token revoked between login and folder lookup: renew it once.
        if (attempt === 1 && err instanceof CicError && err.status === 401) {
          this.tokens.invalidate(this.target, token)
          continue
        }
        throw err
      }
    }
  }

  /** True when a token and the upload folder are cached, so an upload needs no extra calls. */
  isWarm (): boolean {
    return this.tokens.has(this.target) && this.folders.has(this.target)
  }

  /**
   * The newest file of that name in the upload folder, as CIC lists it, or undefined.
   * Used to settle an upload whose outcome was unknown (connection lost after sending).
   */
  async findUploaded (filename: string, opts: CallOptions = {}): Promise<CicResource | undefined> {
    const { token, folderId } = await this.prepare({ requestId: opts.requestId })
    const page = async (startIndex: number): Promise<ListEnvelope> =>
      await this.opts.lookupRetry.execute(async () => await this.client.listChildren(this.target.baseUrl, token, folderId, startIndex, 100, opts))
    const match = (list: ListEnvelope): CicResource | undefined => list.resources.findLast(r => r.type !== 'folder' && r.name === filename)
    // The file just sent is most likely among the newest: read the last pages first.
    const first = await page(0)
    const size = first.resources.length
    if (size === 0 || first.totalResults <= size) return match(first)
    for (let start = Math.floor((first.totalResults - 1) / size) * size; start >= size; start -= size) {
      const found = match(await page(start))
      if (found !== undefined) return found
    }
    return match(first)
  }

  async upload (filename: string, body: UploadBody, opts: CallOptions = {}): Promise<MailboxUploadResult> {
    // While a probe runs, others fail fast too instead of queueing behind it.
    if (this.breaker.state === CircuitState.HalfOpen) throw new CircuitOpenError(1)
    let attempts = 0
    const retry = body.replayable ? this.replayableRetry : this.streamedRetry
    try {
      // cockatiel reads only `aborted` of the signal: no retry is scheduled once the caller is gone.
      return await this.breaker.execute(async () => await retry.execute(async () => {
        attempts++
        const { token, folderId } = await this.prepare({ requestId: opts.requestId })
        try {
          const result = await this.client.upload(this.target.baseUrl, token, folderId, filename, body, opts)
          return { ...result, attempts }
        } catch (err) {
          if (err instanceof CicError && err.status === 401) this.tokens.invalidate(this.target, token)
          if (err instanceof CicError && err.status === 404) this.folders.forget(this.target, folderId)
          throw err
        }
      }, opts.signal as AbortSignal | undefined))
    } catch (err) {
      if (err instanceof BrokenCircuitError) {
        const remaining = this.opts.circuit.halfOpenAfterMs - (Date.now() - this.openedAt)
        throw new CircuitOpenError(Math.max(1, Math.ceil(remaining / 1000)))
      }
      throw err
    }
  }
}
