// Login-token cache: one token per CIC account, single-flight (N concurrent cold requests
// make one login), renewed a margin before the JWT's exp, dropped when CIC says 401.
import type { IPolicy } from 'cockatiel'
import { LRUCache } from 'lru-cache'
import type { CallOptions, CicAccount, CicClient } from './client.js'

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
      fetchMethod: async (_key, _stale, { context: { account, requestId }, options }) => {
        try {
          // No signal: the login is shared by every request waiting for it, one caller leaving must not cancel it.
          const login = async (): Promise<string> => (await client.login(account, { requestId })).accessToken
          const accessToken = opts.retry !== undefined ? await opts.retry.execute(login) : await login()
          const exp = jwtExpiry(accessToken) ?? this.now() + opts.fallbackLifetimeMs
          const expiresAt = exp - opts.refreshMarginMs
          // A token shorter-lived than the margin is still used, for half its life.
          const ttl = Math.max(expiresAt - this.now(), Math.floor((exp - this.now()) / 2), 1)
          options.ttl = ttl
          opts.onLogin?.(account, 'success', undefined, requestId)
          return { token: accessToken, expiresAt: this.now() + ttl }
        } catch (err) {
          opts.onLogin?.(account, 'failure', err, requestId)
          throw err
        }
      }
    })
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
  }

  /** True when a token is cached and not due for renewal. */
  has (account: CicAccount): boolean {
    return this.cache.has(accountKey(account))
  }
}
