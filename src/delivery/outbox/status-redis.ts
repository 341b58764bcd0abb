// Delivery status records in Redis (the shared store of REDIS_URL), written by the replica
// that owns each delivery, read by all. Per delivery a hash `<prefix>dlv:<id>`: the status
// JSON (s), its version (v), its state (st, 1-4 in DELIVERY_STATES order) and its owner (o,
// the replica id; oh, its host). Per caller and state a sorted set
// `<prefix>dlv-list:<sha256(caller)>:<state>` of ids, scored by the id's UUIDv7 milliseconds:
// with equal scores ordered by the id itself, so the set's order is the ids' order, the
// acceptance order, and GET /deliveries pages by id as the outbox does.
// A write is one Lua script (atomic): it does nothing unless its version is above the stored
// one, and moves the id between the state sets. Settled records expire with the outbox's
// keepSettledMs; their ids leave the sets lazily (when a list meets them, and a few at each
// settled write). Others are kept while their owner holds them: a record whose owner's
// volume was lost stays as it was, naming its owner.
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import { RedisUnavailableError, type RedisConnection } from '../../redis/connection.js'
import { StatusStoreUnavailableError, type DeliveryStatusStore, type SharedStatus, type StatusWrite } from './status-store.js'
import { DELIVERY_STATES, type DeliveryState, type DeliveryStatus, type ListOptions } from './types.js'

/**
 * KEYS[1] record, KEYS[2..5] the caller's sets for queued, delivering, delivered, failed.
 * ARGV id, version, json, state (1-4), owner, host, ttlMs (0: none), score, cutoff score.
 * 1: written, 0: the stored version is the same or later.
 */
const PUT = `
local cur = redis.call('HGET', KEYS[1], 'v')
if cur and tonumber(cur) >= tonumber(ARGV[2]) then return 0 end
local old = tonumber(redis.call('HGET', KEYS[1], 'st') or '0')
local st = tonumber(ARGV[4])
if old ~= 0 and old ~= st then redis.call('ZREM', KEYS[1 + old], ARGV[1]) end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 's', ARGV[3], 'st', ARGV[4], 'o', ARGV[5], 'oh', ARGV[6])
redis.call('ZADD', KEYS[1 + st], tonumber(ARGV[8]), ARGV[1])
local ttl = tonumber(ARGV[7])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  -- Ids of expired records leave the set a few at a time, oldest first.
  local prefix = string.sub(KEYS[1], 1, #KEYS[1] - #ARGV[1])
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1 + st], '-inf', ARGV[9], 'LIMIT', 0, 8)) do
    if redis.call('EXISTS', prefix .. id) == 0 then redis.call('ZREM', KEYS[1 + st], id) end
  end
else
  redis.call('PERSIST', KEYS[1])
end
return 1
`

/**
 * KEYS[1] the set. ARGV record key prefix, after id ('' for the first page), its score,
 * limit, state (1-4). Returns {scannedTo, json...}: up to limit + 1 statuses after the
 * cursor (the extra one says there are more); scannedTo is the last id looked at when the
 * scan stopped early (too many expired ids), '' otherwise. Ids whose record expired are removed.
 */
const LIST = `
local limit = tonumber(ARGV[4])
local min = ARGV[2] == '' and '-inf' or ARGV[3]
local out = {}
local gone = {}
local offset = 0
local scanned = 0
local last = ''
local budget = limit * 4 + 1000
while #out <= limit do
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], min, '+inf', 'LIMIT', offset, 200)
  if #ids == 0 then break end
  offset = offset + #ids
  for _, id in ipairs(ids) do
    if ARGV[2] == '' or id > ARGV[2] then
      scanned = scanned + 1
      last = id
      local rec = redis.call('HMGET', ARGV[1] .. id, 's', 'st')
      if not rec[1] then
        gone[#gone + 1] = id
      elseif rec[2] == ARGV[5] then
        out[#out + 1] = rec[1]
        if #out > limit then break end
      end
    end
  end
  if scanned >= budget then break end
end
for _, id in ipairs(gone) do redis.call('ZREM', KEYS[1], id) end
local stopped = ''
if #out <= limit and scanned >= budget then stopped = last end
table.insert(out, 1, stopped)
return out
`

interface StatusCommands {
  cicStatusPut: (...args: Array<string | number>) => Promise<number>
  cicStatusList: (...args: Array<string | number>) => Promise<string[]>
}

const defined = new WeakSet<Redis>()

function commands (client: Redis): StatusCommands {
  if (!defined.has(client)) {
    client.defineCommand('cicStatusPut', { numberOfKeys: 5, lua: PUT })
    client.defineCommand('cicStatusList', { numberOfKeys: 1, lua: LIST })
    defined.add(client)
  }
  return client as unknown as StatusCommands
}

/** The milliseconds of a UUIDv7 (its first 48 bits): the set's score. */
export function idScore (id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
}

export class RedisDeliveryStatusStore implements DeliveryStatusStore {
  constructor (private readonly connection: RedisConnection) {}

  get available (): boolean {
    return this.connection.isUp
  }

  async put (write: StatusWrite): Promise<boolean> {
    const { status, version, owner, ttlMs } = write
    const ttl = ttlMs === undefined ? 0 : Math.max(1, Math.ceil(ttlMs))
    const cutoff = ttl === 0 ? 0 : Date.now() - ttl
    const args = [
      this.recordKey(status.id), ...DELIVERY_STATES.map(s => this.listKey(status.caller, s)),
      status.id, version, JSON.stringify(status), stateIndex(status.state), owner.id, owner.host, ttl, idScore(status.id), cutoff
    ]
    return await this.connection.call(async c => await commands(c).cicStatusPut(...args)) === 1
  }

  async get (id: string, caller: string): Promise<SharedStatus | undefined> {
    const [json, owner] = await this.run(async c => await c.hmget(this.recordKey(id), 's', 'o'))
    const status = parse(json)
    if (status === undefined || status.caller !== caller || status.id !== id) return undefined
    return { status, owner: owner ?? '' }
  }

  async list (caller: string, state: DeliveryState, opts: ListOptions): Promise<{ items: DeliveryStatus[], next?: string }> {
    const limit = Math.max(1, Math.floor(opts.limit))
    const after = opts.after ?? ''
    const reply = await this.run(async c => await commands(c).cicStatusList(this.listKey(caller, state), this.recordKey(''), after, after === '' ? 0 : idScore(after), limit, stateIndex(state)))
    const [stopped, ...rows] = reply
    const items = rows.map(parse).filter((s): s is DeliveryStatus => s !== undefined && s.caller === caller)
    if (items.length > limit) return { items: items.slice(0, limit), next: items[limit - 1]!.id }
    // The scan stopped at its budget (many expired ids): the next page goes on from there.
    if (stopped !== undefined && stopped !== '') return { items, next: stopped }
    return { items }
  }

  async states (ids: readonly string[]): Promise<Array<DeliveryState | undefined>> {
    if (ids.length === 0) return []
    const replies = await this.run(async c => {
      const pipeline = c.pipeline()
      for (const id of ids) pipeline.hget(this.recordKey(id), 'st')
      const result = await pipeline.exec()
      if (result === null) throw new Error('pipeline aborted')
      return result.map(([err, value]) => {
        if (err !== null) throw err
        return value as string | null
      })
    })
    return replies.map(v => v === null ? undefined : DELIVERY_STATES[Number(v) - 1])
  }

  private recordKey (id: string): string {
    return `${this.connection.keyPrefix}dlv:${id}`
  }

  /** A hash of the caller: no caller name becomes a key name. */
  private listKey (caller: string, state: DeliveryState): string {
    return `${this.connection.keyPrefix}dlv-list:${createHash('sha256').update(caller).digest('hex')}:${state}`
  }

  private async run<T> (fn: (client: Redis) => Promise<T>): Promise<T> {
    try {
      return await this.connection.call(fn)
    } catch (err) {
      throw new StatusStoreUnavailableError(err instanceof RedisUnavailableError ? err.reason : 'unknown error')
    }
  }
}

function stateIndex (state: DeliveryState): number {
  return DELIVERY_STATES.indexOf(state) + 1
}

function parse (json: string | null | undefined): DeliveryStatus | undefined {
  if (json === null || json === undefined) return undefined
  try {
    const status = JSON.parse(json) as DeliveryStatus
    return typeof status === 'object' && status !== null && typeof status.id === 'string' ? status : undefined
  } catch {
    return undefined
  }
}
