// Where login tokens are shared between replicas (Redis, see token-store-redis.ts). Without
// a store each process keeps its own token (tokens.ts); with one, one login serves every
// replica of a mailbox. A token is a bearer credential: a store must keep it as carefully
// as the password it was obtained with.

export interface SharedToken {
  token: string
  /** How much longer it may be used (ms), the refresh margin already taken off. */
  ttlMs: number
}

export interface TokenStore {
  /** The shared token for the account key, or undefined when none is stored. */
  get: (key: string) => Promise<SharedToken | undefined>
  /** Stores the token for `ttlMs`. */
  set: (key: string, token: string, ttlMs: number) => Promise<void>
  /**
   * One replica at a time logs in for a key: true when `owner` now holds the lock, which
   * lapses after `lockMs` on its own if the holder dies.
   */
  lock: (key: string, owner: string, lockMs: number) => Promise<boolean>
  /** Releases the lock if `owner` still holds it. */
  unlock: (key: string, owner: string) => Promise<void>
  /** Drops the shared token only if it is still `token` (CIC refused it); a newer one stays. */
  invalidate: (key: string, token: string) => Promise<void>
}
