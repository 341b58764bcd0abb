// CIC login tokens shared through a real Redis: TokenCaches standing for replicas, each on
// its own Redis connection, in front of one simulator mailbox.
import t from 'tap'
import { Redis } from 'ioredis'
import { Agent } from 'undici'
import { CicClient, type CicAccount } from '../src/cic/client.js'
import { CicError } from '../src/cic/errors.js'
import { accountKey, TokenCache, type TokenCacheOptions } from '../src/cic/tokens.js'
import { createLogger } from '../src/observability/logger.js'
import { createRedisStores, type RedisStores } from '../src/redis/index.js'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator, type Simulator, type SimulatorOptions } from '../src/simulator/index.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { Writable } from 'node:stream'

interface Teardown { teardown: (fn: () => unknown) => void }

const PREFIX = 'test:'

async function simulator (t: Teardown, opts: SimulatorOptions = {}): Promise<{ sim: Simulator, account: CicAccount, client: CicClient }> {
  const sim = await startSimulator(opts)
  const dispatcher = new Agent()
  t.teardown(async () => { await dispatcher.close(); await sim.close() })
  return { sim, account: { baseUrl: sim.url, username: DEMO_USERNAME, password: DEMO_PASSWORD }, client: new CicClient(dispatcher) }
}

async function stores (t: Teardown, server: RedisServer): Promise<RedisStores> {
  const sink = new Writable({ write (_chunk, _enc, cb) { cb() } })
  const s = createRedisStores({ url: server.url, keyPrefix: PREFIX, idempotencyTtlMs: 60_000 }, createLogger('info', sink))
  t.teardown(async () => { await s.close() })
  if (!await s.ready(10_000)) throw new Error('Redis did not connect')
  return s
}

function replica (client: CicClient, extra: Partial<TokenCacheOptions> = {}): TokenCache {
  return new TokenCache(client, { refreshMarginMs: 60_000, fallbackLifetimeMs: 900_000, ...extra })
}

/** One CIC call with the token: true when CIC accepted it. */
async function accepted (client: CicClient, account: CicAccount, token: string): Promise<boolean> {
  try {
    await client.listFolders(account.baseUrl, token)
    return true
  } catch (err) {
    if (err instanceof CicError && err.status === 401) return false
    throw err
  }
}

t.test('100 concurrent first requests across two replicas sharing Redis: exactly one login', async t => {
  const server = await startRedis(t)
  const { sim, account, client } = await simulator(t, { singleSession: true })
  const a = replica(client, { store: (await stores(t, server)).tokens })
  const b = replica(client, { store: (await stores(t, server)).tokens })
  const tokens = await Promise.all(Array.from({ length: 100 }, async (_, i) => await (i % 2 === 0 ? a : b).get(account, { requestId: `r${i}` })))
  t.equal(sim.calls.login, 1, 'one login for both replicas')
  t.equal(new Set(tokens).size, 1, 'both use the same token')
  // CIC allowing one session per user: the one token serves both, nobody is revoked.
  t.equal(await accepted(client, account, await a.get(account)), true)
  t.equal(await accepted(client, account, await b.get(account)), true)
})

t.test('without a shared store, each replica logs in; with one session per user, the first is revoked', async t => {
  // What the README describes for several replicas without Redis (and what the test above prevents).
  const { sim, account, client } = await simulator(t, { singleSession: true })
  const a = replica(client)
  const b = replica(client)
  const ta = await a.get(account)
  const tb = await b.get(account)
  t.equal(sim.calls.login, 2, 'one login per replica')
  t.equal(await accepted(client, account, ta), false, "the first replica's token was revoked by the second login")
  t.equal(await accepted(client, account, tb), true)
})

t.test('the token in Redis: under the prefix, named by a hash of the account, expiring with the token', async t => {
  const server = await startRedis(t)
  const { account, client } = await simulator(t, { tokenLifetimeSeconds: 600 })
  const cache = replica(client, { store: (await stores(t, server)).tokens, refreshMarginMs: 60_000 })
  const token = await cache.get(account)
  const raw = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true })
  t.teardown(() => { raw.disconnect() })
  await raw.connect()
  const keys = await raw.keys('*')
  t.equal(keys.length, 1, 'the login lock is gone, the token stays')
  t.match(keys[0], /^test:token:[0-9a-f]{64}$/)
  t.notOk(keys[0]!.includes(DEMO_USERNAME), 'no username in the key name')
  t.equal(await raw.get(keys[0]!), token)
  const ttl = await raw.pttl(keys[0]!)
  t.ok(ttl > 500_000 && ttl <= 540_000, `expires a margin before the token (${ttl} ms left)`)
})

t.test('a token CIC rejected: one replica logs in again, the other takes the new token from Redis', async t => {
  const server = await startRedis(t)
  const { sim, account, client } = await simulator(t)
  const a = replica(client, { store: (await stores(t, server)).tokens })
  const b = replica(client, { store: (await stores(t, server)).tokens })
  const first = await a.get(account)
  t.equal(await b.get(account), first)
  t.equal(sim.calls.login, 1)
  // A says CIC refused the token: dropped here and in Redis, and A logs in again.
  a.invalidate(account, first)
  const second = await a.get(account)
  t.not(second, first)
  t.equal(sim.calls.login, 2)
  // B still had the old one; refused, it finds the newer token in Redis (not deleted by B's invalidate).
  b.invalidate(account, first)
  t.equal(await b.get(account), second)
  t.equal(sim.calls.login, 2, 'no third login')
})

t.test('a replica that died holding the login lock: the others log in once its lock lapses', async t => {
  const server = await startRedis(t)
  const { sim, account, client } = await simulator(t)
  const s = await stores(t, server)
  // A dead replica's lock, as it would be left: held, no token stored.
  t.equal(await s.tokens.lock(accountKey(account), 'dead-replica', 300), true)
  // Their own locks are longer than any login here, so only the dead one lapses.
  const a = replica(client, { store: s.tokens, lockMs: 5000 })
  const b = replica(client, { store: (await stores(t, server)).tokens, lockMs: 5000 })
  const tokens = await Promise.all([a.get(account), b.get(account), a.get(account), b.get(account)])
  t.equal(new Set(tokens).size, 1)
  t.equal(sim.calls.login, 1, 'one login after the lock lapsed, not one per replica')
})

t.test('Redis down: tokens are still had (a login here, as without Redis); back up, shared again', async t => {
  const server = await startRedis(t)
  const { sim, account, client } = await simulator(t)
  const s = await stores(t, server)
  const errors: unknown[] = []
  await server.stop()
  const a = replica(client, { store: s.tokens, onStoreError: err => { errors.push(err) } })
  t.type(await a.get(account), 'string', 'a token despite Redis being down')
  t.equal(sim.calls.login, 1)
  t.ok(errors.length > 0, 'the store failure was reported')
  await server.start()
  if (!await s.ready(15_000)) throw new Error('Redis did not come back')
  const b = replica(client, { store: s.tokens })
  const c = replica(client, { store: (await stores(t, server)).tokens })
  const [tb, tc] = await Promise.all([b.get(account), c.get(account)])
  t.equal(tb, tc)
  t.equal(sim.calls.login, 2, 'one more login, shared by both')
})
