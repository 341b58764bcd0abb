// Idempotency-Key records in Redis, shared by every replica. Each step is one Lua script,
// so it is atomic on the Redis server; lease times come from the server's clock (TIME),
// never from a replica's. A record is a JSON string under `${prefix}idem:${sha256(scope)}`
// (the caller's key text never becomes a Redis key name), living IDEMPOTENCY_TTL after its
// last write.
//
// Bounded by Redis itself: with `maxmemory` and `maxmemory-policy noeviction`, a full Redis
// refuses the write, the call fails and the request gets a 503 (safe to resend); no record
// is ever evicted early. (An evicting policy could drop a delivered record, and a repeat
// would then be uploaded again.) So `full` is never answered here.
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { RedisUnavailableError, type RedisConnection } from '../redis/connection.js'
import type { AnsweredRecord, Attempt, ClaimResult, IdempotencyStore, SettledRecord } from './idempotency-store.js'

// Server time in ms. replicate_commands: Redis < 5 needs it to write after TIME (a no-op since 7).
const NOW = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

/**
 * KEYS[1] record; ARGV owner, leaseMs, ttlMs.
 * Returns {'claimed'} | {'claimed', previousAttemptJson} | {'in-use'} | {'delivered', recordJson}.
 * A lapsed in-flight claim with an attempt is not free: its outcome is unknown, so it is
 * claimed with that attempt as `previous`, and the new claim keeps it until it is replaced,
 * so the attempt is never forgotten if this owner dies too.
 */
const CLAIM = NOW + `
local raw = redis.call('GET', KEYS[1])
local previous = nil
if raw then
  local rec = cjson.decode(raw)
  if rec.state == 'delivered' or rec.state == 'accepted' then return {'delivered', raw} end
  if rec.state == 'in-flight' and tonumber(rec.leaseUntil) > now then return {'in-use'} end
  previous = rec.attempt
end
local claim = {state = 'in-flight', owner = ARGV[1], leaseUntil = now + tonumber(ARGV[2])}
if previous then claim.attempt = previous end
redis.call('SET', KEYS[1], cjson.encode(claim), 'PX', tonumber(ARGV[3]) + tonumber(ARGV[2]))
if previous then return {'claimed', cjson.encode(previous)} end
return {'claimed'}
`

/** KEYS[1] record; ARGV owner, leaseMs, ttlMs, attemptJson or ''. 1: renewed, 0: not ours. */
const RENEW = NOW + `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec.state ~= 'in-flight' or rec.owner ~= ARGV[1] then return 0 end
rec.leaseUntil = now + tonumber(ARGV[2])
if ARGV[4] ~= '' then rec.attempt = cjson.decode(ARGV[4]) end
redis.call('SET', KEYS[1], cjson.encode(rec), 'PX', tonumber(ARGV[3]) + tonumber(ARGV[2]))
return 1
`

/** KEYS[1] record; ARGV owner, recordJson or '' (free the key), ttlMs. 1: settled, 0: not ours. */
const SETTLE = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec.state ~= 'in-flight' or rec.owner ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3]))
end
return 1
`

interface IdempotencyCommands {
  cicIdemClaim: (key: string, owner: string, leaseMs: number, ttlMs: number) => Promise<string[]>
  cicIdemRenew: (key: string, owner: string, leaseMs: number, ttlMs: number, attempt: string) => Promise<number>
  cicIdemSettle: (key: string, owner: string, record: string, ttlMs: number) => Promise<number>
}

const defined = new WeakSet<Redis>()

/** EVALSHA with the script cached on the server (ioredis falls back to EVAL on NOSCRIPT). */
function commands (client: Redis): IdempotencyCommands {
  if (!defined.has(client)) {
    client.defineCommand('cicIdemClaim', { numberOfKeys: 1, lua: CLAIM })
    client.defineCommand('cicIdemRenew', { numberOfKeys: 1, lua: RENEW })
    client.defineCommand('cicIdemSettle', { numberOfKeys: 1, lua: SETTLE })
    defined.add(client)
  }
  return client as unknown as IdempotencyCommands
}

export interface RedisIdempotencyStoreOptions {
  /** How long a record lives after its last write (IDEMPOTENCY_TTL_SECONDS). */
  ttlMs: number
}

/** The Redis key of a scope: a hash, so no caller text becomes a key name. */
export function idempotencyKey (prefix: string, scope: string): string {
  return `${prefix}idem:${createHash('sha256').update(scope).digest('hex')}`
}

export class RedisIdempotencyStore implements IdempotencyStore {
  constructor (private readonly connection: RedisConnection, private readonly opts: RedisIdempotencyStoreOptions) {}

  async claim (scope: string, owner: string, leaseMs: number): Promise<ClaimResult> {
    const reply = await this.run(async c => await commands(c).cicIdemClaim(this.key(scope), owner, lease(leaseMs), this.opts.ttlMs))
    switch (reply[0]) {
      case 'in-use':
        return { outcome: 'in-use' }
      case 'delivered':
        return { outcome: 'delivered', record: JSON.parse(reply[1]!) as AnsweredRecord }
      case 'claimed':
        return reply[1] === undefined ? { outcome: 'claimed' } : { outcome: 'claimed', previous: JSON.parse(reply[1]) as Attempt }
      default:
        throw new RedisUnavailableError('unexpected answer from the claim script')
    }
  }

  async renew (scope: string, owner: string, leaseMs: number, attempt?: Attempt): Promise<boolean> {
    const json = attempt === undefined ? '' : JSON.stringify(attempt)
    return await this.run(async c => await commands(c).cicIdemRenew(this.key(scope), owner, lease(leaseMs), this.opts.ttlMs, json)) === 1
  }

  async settle (scope: string, owner: string, record: SettledRecord | undefined): Promise<boolean> {
    const json = record === undefined ? '' : JSON.stringify(record)
    return await this.run(async c => await commands(c).cicIdemSettle(this.key(scope), owner, json, this.opts.ttlMs)) === 1
  }

  /** Closes the connection (shared with the token store: close it once, at shutdown). */
  async close (): Promise<void> {
    await this.connection.close()
  }

  private key (scope: string): string {
    return idempotencyKey(this.connection.keyPrefix, scope)
  }

  /** Any failure rejects with a RedisUnavailableError (scrubbed): the state machine answers 503. */
  private async run<T> (fn: (client: Redis) => Promise<T>): Promise<T> {
    return await this.connection.call(fn)
  }
}

function lease (ms: number): number {
  return Math.max(1, Math.ceil(ms))
}
