// Login-token cache: one token per CIC account, single-flight (N concurrent cold requests
// make one login), renewed a margin before the JWT's exp, dropped when CIC says 401.
// With a shared TokenStore (Redis), the single flight spans the replicas: a replica first
// takes the token another one stored, and only the holder of a short lock logs in.
import { randomUUID } from 'node:crypto'
import type { IPolicy } from 'cockatiel'
import { LRUCache } from 'lru-cache'
import type { CallOptions, CicAccount, CicClient } from './client.js'
import type { TokenStore } from './token-store.js'

export interface TokenCacheOptions {
  /** Renew this long before `exp`, so a token never expires mid-upload in the common case. */
  refreshMarginMs: number
  /** Lifetime assumed when the token is not a JWT with a readable `exp`. */
  fallbackLifetimeMs: number
  /** Called after every login attempt (metrics, logs), with the id of the request that triggered it. */
  onLogin?: (account: CicAccount, outcome: 'success' | 'failure', err: unknown, requestId: string | undefined) => void
  /** Retries a failed login (transient failures only). */
  retry?: IPolicy
  now?: () => number
  /** Shared with the other replicas: one login serves them all. Unset: this process only. */
  store?: TokenStore
  /**
   * Longest a replica holds the login lock; it lapses on its own if the holder dies. The
   * others wait for the token meanwhile (and log in themselves after twice this long).
   */
  lockMs?: number
  /** Told when the shared store fails; the login then happens here, as without a store. */
  onStoreError?: (err: unknown) => void
}

export const DEFAULT_LOGIN_LOCK_MS = 10_000
/** How often a replica waiting for another's login looks for the token. */
const LOCK_POLL_MS = 50

/** A store call that failed: carry on without the store. */
const FAILED = Symbol('store failed')

interface Obtained {
  token: string
  /** How long it may be used. */
  ttl: number
}

interface LoginContext {
  account: CicAccount
  /** The request that triggered the login: CIC gets its id, so both sides' logs can be joined. */
  requestId: string | undefined
}

interface CachedToken {
  token: string
  expiresAt: number
}

export function accountKey (account: CicAccount): string {
  return `${account.baseUrl}\u0000${account.username}`
}

/** Reads `exp` (seconds since epoch) from a JWT without verifying it: we only need to know when to renew. */
export function jwtExpiry (token: string): number | undefined {
  const payload = token.split('.')[1]
  if (payload === undefined) return undefined
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined
  } catch {
    return undefined
  }
}

export class TokenCache {
  private readonly cache: LRUCache<string, CachedToken, LoginContext>
  private readonly now: () => number

  constructor (private readonly client: CicClient, private readonly opts: TokenCacheOptions) {
    this.now = opts.now ?? Date.now
    this.cache = new LRUCache<string, CachedToken, LoginContext>({
      max: 1000,
      // lru-cache's fetch() shares one in-flight fetchMethod per key: that is the single flight.
      fetchMethod: async (key, _stale, { context, options }) => {
        const { token, ttl } = opts.store === undefined ? await this.login(context) : await this.shared(opts.store, key, context)
        options.ttl = ttl
        return { token, expiresAt: this.now() + ttl }
      }
    })
  }

  private async login ({ account, requestId }: LoginContext): Promise<Obtained> {
    const { client, opts } = this
    try {
      // No signal: the login is shared by every request waiting for it, one caller leaving must not cancel it.
      const login = async (): Promise<string> => (await client.login(account, { requestId })).accessToken
      const accessToken = opts.retry !== undefined ? await opts.retry.execute(login) : await login()
      const exp = jwtExpiry(accessToken) ?? this.now() + opts.fallbackLifetimeMs
      const expiresAt = exp - opts.refreshMarginMs
      // A token shorter-lived than the margin is still used, for half its life.
      const ttl = Math.max(expiresAt - this.now(), Math.floor((exp - this.now()) / 2), 1)
      opts.onLogin?.(account, 'success', undefined, requestId)
      return { token: accessToken, ttl }
    } catch (err) {
      opts.onLogin?.(account, 'failure', err, requestId)
      throw err
    }
  }

  /**
   * The token another replica stored; else, holding the lock, a login stored for the
   * others; else (another replica is logging in) waiting for its token. The store failing
   * at any step means a login here, as without a store.
   */
  private async shared (store: TokenStore, key: string, context: LoginContext): Promise<Obtained> {
    const lockMs = this.opts.lockMs ?? DEFAULT_LOGIN_LOCK_MS
    const owner = randomUUID()
    // Real time, not opts.now: this bounds an actual wait.
    const giveUpAt = Date.now() + 2 * lockMs
    for (;;) {
      const found = await this.tryStore(async () => await store.get(key))
      if (found === FAILED) return await this.login(context)
      if (found !== undefined) return { token: found.token, ttl: found.ttlMs }
      const locked = await this.tryStore(async () => await store.lock(key, owner, lockMs))
      if (locked === FAILED) return await this.login(context)
      if (locked) {
        try {
          // Another replica may have stored a token between our look and our lock.
          const again = await this.tryStore(async () => await store.get(key))
          if (again !== FAILED && again !== undefined) return { token: again.token, ttl: again.ttlMs }
          const fresh = await this.login(context)
          await this.tryStore(async () => { await store.set(key, fresh.token, fresh.ttl) })
          return fresh
        } finally {
          void this.tryStore(async () => { await store.unlock(key, owner) })
        }
      }
      // The holder is stuck past its lock twice over: log in here rather than wait on.
      if (Date.now() >= giveUpAt) return await this.login(context)
      await new Promise(resolve => setTimeout(resolve, LOCK_POLL_MS / 2 + Math.random() * LOCK_POLL_MS))
    }
  }

  private async tryStore<T> (call: () => Promise<T>): Promise<T | typeof FAILED> {
    try {
      return await call()
    } catch (err) {
      this.opts.onStoreError?.(err)
      return FAILED
    }
  }

  /** A valid token for the account, logging in only when none is cached. */
  async get (account: CicAccount, opts: CallOptions = {}): Promise<string> {
    const entry = await this.cache.fetch(accountKey(account), { context: { account, requestId: opts.requestId } })
    if (entry === undefined) throw new Error('token cache returned nothing')
    return entry.token
  }

  /** Drops `token` after CIC rejected it; a newer token fetched meanwhile is kept. */
  invalidate (account: CicAccount, token: string): void {
    const key = accountKey(account)
    const entry = this.cache.peek(key)
    if (entry !== undefined && entry.token === token) this.cache.delete(key)
    // Shared: dropped there too, unless another replica already stored a newer one.
    const store = this.opts.store
    if (store !== undefined) void this.tryStore(async () => { await store.invalidate(key, token) })
  }

  /** True when a token is cached and not due for renewal. */
  has (account: CicAccount): boolean {
    return this.cache.has(accountKey(account))
  }
}
