// CIC login tokens shared through Redis. A stored token is as sensitive as the mailbox
// password (it lets anyone with Redis access upload as the mailbox until it expires): it
// lives only under the gateway's key prefix, for the token's remaining life (PX), and key
// names hold a hash of the account, never the username or CIC's URL.
// This module speaks Redis only; the login itself stays in tokens.ts.
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { RedisConnection } from '../redis/connection.js'
import type { SharedToken, TokenStore } from './token-store.js'

/** KEYS[1] token or lock; ARGV value. Deletes the key only while it still holds the value. */
const DELETE_IF = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

interface TokenCommands {
  cicDeleteIf: (key: string, value: string) => Promise<number>
}

const defined = new WeakSet<Redis>()

function commands (client: Redis): TokenCommands {
  if (!defined.has(client)) {
    client.defineCommand('cicDeleteIf', { numberOfKeys: 1, lua: DELETE_IF })
    defined.add(client)
  }
  return client as unknown as TokenCommands
}

export class RedisTokenStore implements TokenStore {
  constructor (private readonly connection: RedisConnection) {}

  async get (key: string): Promise<SharedToken | undefined> {
    const k = this.tokenKey(key)
    const [token, ttl] = await this.connection.call(async c => {
      const replies = await c.multi().get(k).pttl(k).exec()
      if (replies === null) throw new Error('transaction aborted')
      for (const [err] of replies) if (err !== null) throw err
      return [replies[0]![1] as string | null, replies[1]![1] as number]
    })
    // PTTL is -2 (gone) or -1 (no expiry, never written so by us): either way not usable.
    if (token === null || ttl <= 0) return undefined
    return { token, ttlMs: ttl }
  }

  async set (key: string, token: string, ttlMs: number): Promise<void> {
    await this.connection.call(async c => await c.set(this.tokenKey(key), token, 'PX', Math.max(1, Math.floor(ttlMs))))
  }

  async lock (key: string, owner: string, lockMs: number): Promise<boolean> {
    const reply = await this.connection.call(async c => await c.set(this.lockKey(key), owner, 'PX', Math.max(1, Math.floor(lockMs)), 'NX'))
    return reply === 'OK'
  }

  async unlock (key: string, owner: string): Promise<void> {
    await this.connection.call(async c => await commands(c).cicDeleteIf(this.lockKey(key), owner))
  }

  async invalidate (key: string, token: string): Promise<void> {
    await this.connection.call(async c => await commands(c).cicDeleteIf(this.tokenKey(key), token))
  }

  private hash (key: string): string {
    return createHash('sha256').update(key).digest('hex')
  }

  private tokenKey (key: string): string {
    return `${this.connection.keyPrefix}token:${this.hash(key)}`
  }

  private lockKey (key: string): string {
    return `${this.connection.keyPrefix}token-lock:${this.hash(key)}`
  }
}
