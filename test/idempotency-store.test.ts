// The IdempotencyStore contract, run against both stores (this process's memory, and a
// real redis-server), then what only a shared store has to survive: lapsed leases, a
// takeover, two connections racing, Redis stopped, paused, full, and password-protected.
import { readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import t from 'tap'
import { Redis } from 'ioredis'
import { MemoryIdempotencyStore, type Attempt, type IdempotencyStore, type SettledRecord } from '../src/delivery/idempotency-store.js'
import { createLogger } from '../src/observability/logger.js'
import { createRedisStores, RedisUnavailableError, scrubber, type RedisStores } from '../src/redis/index.js'
import { makeCa } from './helpers/egress.js'
import { startRedis, type RedisServer } from './helpers/redis.js'

const TTL_MS = 60_000
const LEASE_MS = 30_000

// A '/' and non-ASCII text: the Lua side decodes and re-encodes attempts.
const attempt: Attempt = { fingerprint: 'fp-1', filename: 'orders/po 1 ü.edi', sha256: 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=' }
const other: Attempt = { fingerprint: 'fp-2', filename: 'po-2.edi', sha256: 'AAAA' }
const delivered: SettledRecord = { state: 'delivered', attempt, raw: Buffer.from('{"id":"f1"}').toString('base64') }

interface Teardown { teardown: (fn: () => unknown) => void }

function logSink (): { logger: ReturnType<typeof createLogger>, text: () => string } {
  const lines: string[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(chunk.toString('utf8')); cb() } })
  return { logger: createLogger('debug', sink), text: () => lines.join('') }
}

async function redisStores (t: Teardown, server: RedisServer, extra: { password?: string, url?: string, commandTimeoutMs?: number, ca?: string } = {}, logger = logSink().logger): Promise<RedisStores> {
  const stores = createRedisStores({ url: extra.url ?? server.url, keyPrefix: 'test:', idempotencyTtlMs: TTL_MS, commandTimeoutMs: extra.commandTimeoutMs, ...(extra.password !== undefined ? { password: extra.password } : {}), ...(extra.ca !== undefined ? { ca: extra.ca } : {}) }, logger)
  t.teardown(async () => { await stores.close() })
  return stores
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/** Waits (bounded) until the store answers again after an outage. */
async function untilUp (stores: RedisStores): Promise<void> {
  if (!await stores.ready(15_000)) throw new Error('Redis connection did not come back')
}

/** Rejects when the promise has not settled within `ms`: a hang fails the test instead of timing it out. */
async function bounded<T> (p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`no answer within ${ms} ms`)) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

const implementations: Array<[string, (t: Teardown) => Promise<IdempotencyStore>]> = [
  ['memory', async () => new MemoryIdempotencyStore({ ttlMs: TTL_MS, maxKeys: 1000, maxBytes: 1 << 20 })],
  ['redis', async t => {
    const stores = await redisStores(t, await startRedis(t))
    if (!await stores.ready(10_000)) throw new Error('Redis did not connect')
    return stores.idempotency
  }]
]

for (const [name, make] of implementations) {
  t.test(`${name} store: the IdempotencyStore contract`, async t => {
    const store = await make(t)

    t.test('a free key is claimed fresh; while held, another request is told in-use', async t => {
      t.same(await store.claim('k1', 'A', LEASE_MS), { outcome: 'claimed' })
      t.same(await store.claim('k1', 'B', LEASE_MS), { outcome: 'in-use' })
      t.same(await store.claim('k1', 'A', LEASE_MS), { outcome: 'in-use' }, 'even the owner cannot claim twice')
    })

    t.test('settled as delivered: every repeat gets the stored record', async t => {
      t.same(await store.claim('k2', 'A', LEASE_MS), { outcome: 'claimed' })
      t.equal(await store.renew('k2', 'A', LEASE_MS, attempt), true)
      t.equal(await store.settle('k2', 'A', delivered), true)
      t.same(await store.claim('k2', 'B', LEASE_MS), { outcome: 'delivered', record: delivered })
      t.same(await store.claim('k2', 'C', LEASE_MS), { outcome: 'delivered', record: delivered })
    })

    t.test('settled as unknown: the next request claims it with the previous attempt to reconcile', async t => {
      t.same(await store.claim('k3', 'A', LEASE_MS), { outcome: 'claimed' })
      t.equal(await store.settle('k3', 'A', { state: 'unknown', attempt }), true)
      t.same(await store.claim('k3', 'B', LEASE_MS), { outcome: 'claimed', previous: attempt })
      t.same(await store.claim('k3', 'C', LEASE_MS), { outcome: 'in-use' })
      t.equal(await store.settle('k3', 'B', delivered), true)
      t.same(await store.claim('k3', 'C', LEASE_MS), { outcome: 'delivered', record: delivered })
    })

    t.test('settle and renew are compare-and-set on the owner', async t => {
      t.same(await store.claim('k4', 'A', LEASE_MS), { outcome: 'claimed' })
      t.equal(await store.settle('k4', 'B', delivered), false, 'a non-owner cannot settle')
      t.equal(await store.renew('k4', 'B', LEASE_MS, other), false, 'a non-owner cannot renew')
      t.same(await store.claim('k4', 'C', LEASE_MS), { outcome: 'in-use' }, 'still held by A')
      t.equal(await store.renew('k4', 'A', LEASE_MS, attempt), true)
      t.equal(await store.settle('k4', 'A', { state: 'unknown', attempt }), true)
      t.same(await store.claim('k4', 'C', LEASE_MS), { outcome: 'claimed', previous: attempt }, "B's renew did not replace A's attempt")
      t.equal(await store.settle('k4', 'A', delivered), false, 'the former owner cannot settle a key it no longer holds')
      t.equal(await store.settle('nobody-claimed', 'A', delivered), false, 'nor a key never claimed')
    })

    t.test('settled with nothing (no upload happened): the key is free again', async t => {
      t.same(await store.claim('k5', 'A', LEASE_MS), { outcome: 'claimed' })
      t.equal(await store.settle('k5', 'A', undefined), true)
      t.same(await store.claim('k5', 'B', LEASE_MS), { outcome: 'claimed' })
    })
  })
}

t.test('redis store: leases lapse on the server clock, and a lapsed claim is not forgotten', async t => {
  const server = await startRedis(t)
  const stores = await redisStores(t, server)
  t.ok(await stores.ready(10_000))
  const store = stores.idempotency
  const SHORT = 50

  t.test('a lapsed lease without an attempt (nothing was sent): claimable fresh', async t => {
    t.same(await store.claim('l1', 'A', SHORT), { outcome: 'claimed' })
    await sleep(SHORT * 3)
    t.same(await store.claim('l1', 'B', LEASE_MS), { outcome: 'claimed' })
  })

  t.test('a lapsed lease with an attempt: the outcome is unknown, the next request reconciles it', async t => {
    t.same(await store.claim('l2', 'A', SHORT), { outcome: 'claimed' })
    t.equal(await store.renew('l2', 'A', SHORT, attempt), true)
    await sleep(SHORT * 3)
    t.same(await store.claim('l2', 'B', SHORT), { outcome: 'claimed', previous: attempt })
    // B dies as well before sending anything: the first attempt is still to be reconciled.
    await sleep(SHORT * 3)
    t.same(await store.claim('l2', 'C', LEASE_MS), { outcome: 'claimed', previous: attempt })
  })

  t.test('renewing keeps the lease: a long upload keeps its key', async t => {
    t.same(await store.claim('l3', 'A', SHORT * 4), { outcome: 'claimed' })
    for (let i = 0; i < 4; i++) {
      await sleep(SHORT)
      t.equal(await store.renew('l3', 'A', SHORT * 4), true)
    }
    t.same(await store.claim('l3', 'B', LEASE_MS), { outcome: 'in-use' })
  })

  t.test('an owner whose lease lapsed and was taken over changes nothing', async t => {
    t.same(await store.claim('l4', 'A', SHORT), { outcome: 'claimed' })
    t.equal(await store.renew('l4', 'A', SHORT, attempt), true)
    await sleep(SHORT * 3)
    t.same(await store.claim('l4', 'B', LEASE_MS), { outcome: 'claimed', previous: attempt })
    t.equal(await store.renew('l4', 'A', LEASE_MS, other), false, 'the old owner cannot renew')
    t.equal(await store.settle('l4', 'A', { state: 'delivered', attempt: other, raw: 'b2xk' }), false, 'nor settle')
    t.equal(await store.settle('l4', 'A', undefined), false, 'nor free the key')
    t.same(await store.claim('l4', 'C', LEASE_MS), { outcome: 'in-use' }, 'B still holds it')
    t.equal(await store.settle('l4', 'B', delivered), true)
    t.same(await store.claim('l4', 'C', LEASE_MS), { outcome: 'delivered', record: delivered })
  })

  t.test('a lapsed owner may still settle while nobody took over (its record is still its own)', async t => {
    t.same(await store.claim('l5', 'A', SHORT), { outcome: 'claimed' })
    await sleep(SHORT * 3)
    t.equal(await store.settle('l5', 'A', delivered), true)
    t.same(await store.claim('l5', 'B', LEASE_MS), { outcome: 'delivered', record: delivered })
  })
})

t.test('redis store: records are JSON under the prefix, named by a hash of the scope, with the TTL', async t => {
  const server = await startRedis(t)
  const stores = await redisStores(t, server)
  t.ok(await stores.ready(10_000))
  const scope = 'caller-7\u0000mailbox\u0000order 42 / secret-ish key text'
  t.same(await stores.idempotency.claim(scope, 'A', LEASE_MS), { outcome: 'claimed' })
  t.equal(await stores.idempotency.settle(scope, 'A', delivered), true)
  const raw = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true })
  t.teardown(() => { raw.disconnect() })
  await raw.connect()
  const keys = await raw.keys('*')
  t.equal(keys.length, 1)
  t.match(keys[0], /^test:idem:[0-9a-f]{64}$/, 'the key name is the prefix and a SHA-256')
  t.notOk(keys[0]!.includes('order'), 'no caller text in the key name')
  t.same(JSON.parse((await raw.get(keys[0]!))!), delivered)
  const ttl = await raw.pttl(keys[0]!)
  t.ok(ttl > 0 && ttl <= TTL_MS, `expires with the idempotency TTL (${ttl} ms left)`)
})

t.test('redis store: 50 concurrent claims of one key over two connections: exactly one is claimed', async t => {
  const server = await startRedis(t)
  const a = await redisStores(t, server)
  const b = await redisStores(t, server)
  t.ok(await a.ready(10_000))
  t.ok(await b.ready(10_000))
  const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => await (i % 2 === 0 ? a : b).idempotency.claim('race', `owner-${i}`, LEASE_MS)))
  t.equal(results.filter(r => r.outcome === 'claimed').length, 1, 'one claim')
  t.equal(results.filter(r => r.outcome === 'in-use').length, 49, 'every other request is told in-use')
})

t.test('redis store: Redis stopped fails fast with the unavailable error; restarted, the same store works again', async t => {
  const server = await startRedis(t)
  const log = logSink()
  const stores = await redisStores(t, server, {}, log.logger)
  const states: boolean[] = []
  stores.onStateChange(up => { states.push(up) })
  t.ok(await stores.ready(10_000))
  t.same(await stores.idempotency.claim('before', 'A', LEASE_MS), { outcome: 'claimed' })

  await server.stop()
  for (const call of [
    stores.idempotency.claim('during', 'A', LEASE_MS),
    stores.idempotency.renew('before', 'A', LEASE_MS, attempt),
    stores.idempotency.settle('before', 'A', delivered)
  ]) {
    const err = await bounded(call.then(() => undefined, (e: unknown) => e))
    t.type(err, RedisUnavailableError, 'rejected with the typed error')
  }
  t.equal(stores.up, false, 'reported down')

  await server.start()
  await untilUp(stores)
  t.same(await stores.idempotency.claim('after', 'A', LEASE_MS), { outcome: 'claimed' }, 'works again, same store object')
  t.equal(stores.up, true)
  t.same(states, [true, false, true], 'up once connected, then one transition each way')
  const lines = log.text().split('\n').filter(l => l.includes('"redis.state"')).map(l => JSON.parse(l) as { up: boolean, level: number })
  t.same(lines.map(l => l.up), [false, true], 'one log line per transition (and none per failed reconnect)')
})

t.test('redis store: a paused (slow) Redis fails within the command timeout, never hangs', async t => {
  const server = await startRedis(t)
  const stores = await redisStores(t, server, { commandTimeoutMs: 300 })
  t.ok(await stores.ready(10_000))
  server.pause()
  const err = await bounded(stores.idempotency.claim('slow', 'A', LEASE_MS).then(() => undefined, (e: unknown) => e))
  t.type(err, RedisUnavailableError)
  t.equal(stores.up, false, 'reported down while it does not answer')
  server.resume()
  // The claim sent while paused may still run once Redis resumes: the key is then held by
  // A for its lease (answered in-use, Retry-After) — never free for a second upload.
  t.match(await bounded(stores.idempotency.claim('slow', 'B', LEASE_MS)), { outcome: /^(claimed|in-use)$/ })
  t.same(await stores.idempotency.claim('fresh', 'B', LEASE_MS), { outcome: 'claimed' })
  t.equal(stores.up, true, 'up again after an answer')
})

t.test('redis store: a full Redis (maxmemory, noeviction) refuses the claim: unavailable, nothing evicted', async t => {
  const server = await startRedis(t, { args: ['--maxmemory', '3mb', '--maxmemory-policy', 'noeviction'] })
  const stores = await redisStores(t, server)
  t.ok(await stores.ready(10_000))
  t.same(await stores.idempotency.claim('kept', 'A', LEASE_MS), { outcome: 'claimed' })
  t.equal(await stores.idempotency.settle('kept', 'A', delivered), true)
  const raw = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true })
  t.teardown(() => { raw.disconnect() })
  await raw.connect()
  // Fill it: big values until refused, then ever smaller ones (Redis counts the pending
  // command's own size, so a small write can pass where a big one was refused).
  let i = 0
  for (const size of [65536, 4096, 256, 16]) {
    for (;;) {
      try { await raw.set(`fill:${i++}`, 'x'.repeat(size)) } catch { break }
    }
  }
  const err = await stores.idempotency.claim('new', 'B', LEASE_MS).then(() => undefined, (e: unknown) => e)
  t.type(err, RedisUnavailableError)
  t.match((err as RedisUnavailableError).reason, /^OOM/)
  t.same(await stores.idempotency.claim('kept', 'C', LEASE_MS), { outcome: 'delivered', record: delivered }, 'the delivered record is still there')
})

t.test('redis store: the password appears in no error and no log line', async t => {
  const password = 'S3cret-Redis-pw%41@x'
  const server = await startRedis(t, { password })

  t.test('right password: works; stopped: errors and logs without it', async t => {
    const log = logSink()
    const stores = await redisStores(t, server, { password }, log.logger)
    t.ok(await stores.ready(10_000))
    t.same(await stores.idempotency.claim('p1', 'A', LEASE_MS), { outcome: 'claimed' })
    await server.stop()
    const err = await bounded(stores.idempotency.claim('p2', 'A', LEASE_MS).then(() => undefined, (e: unknown) => e))
    t.type(err, RedisUnavailableError)
    await server.start()
    await untilUp(stores)
    const seen = `${String(err)} ${(err as Error).stack ?? ''} ${JSON.stringify(err)} ${log.text()}`
    t.notOk(seen.includes(password), 'password not in the error or the log')
    t.match(log.text(), /redis\.state/, 'the transitions were logged')
  })

  for (const [name, extra] of [
    ['wrong password option', { password: 'wrong-one-' + password }],
    ['wrong password in the URL', { url: `redis://:${encodeURIComponent('url-' + password)}@127.0.0.1:${server.port}` }]
  ] as const) {
    t.test(`${name}: refused, and the password it tried is in no error or log line`, async t => {
      const tried = 'password' in extra ? extra.password : 'url-' + password
      const log = logSink()
      const stores = await redisStores(t, server, extra, log.logger)
      // AUTH fails at connect: ioredis's error for it carries AUTH's arguments (err.command.args).
      t.equal(await stores.ready(1500), false, 'never ready')
      const err = await bounded(stores.idempotency.claim('p3', 'A', LEASE_MS).then(() => undefined, (e: unknown) => e))
      t.type(err, RedisUnavailableError)
      const seen = `${String(err)} ${(err as Error).stack ?? ''} ${JSON.stringify(err)} ${log.text()}`
      for (const s of [tried, encodeURIComponent(tried), password]) t.notOk(seen.includes(s), 'no password in the error or the log')
      t.match(log.text(), /WRONGPASS|redis\.state/, 'the failure was logged')
    })
  }
})

t.test('redis store over TLS (rediss://): a private CA is trusted only when given, verification never off', async t => {
  const ca = makeCa(t)
  const server = await startRedis(t, { tls: { certFile: `${ca.dir}/server.pem`, keyFile: `${ca.dir}/server.key` } })

  t.test('with the CA (REDIS_CA_FILE): works', async t => {
    const stores = await redisStores(t, server, { ca: readFileSync(ca.caFile, 'utf8') })
    t.ok(await stores.ready(10_000))
    t.same(await stores.idempotency.claim('tls', 'A', LEASE_MS), { outcome: 'claimed' })
  })

  t.test('without it: the certificate is refused, every call fails closed', async t => {
    const log = logSink()
    const stores = await redisStores(t, server, {}, log.logger)
    t.equal(await stores.ready(1500), false, 'never connected')
    const err = await bounded(stores.idempotency.claim('tls', 'B', LEASE_MS).then(() => undefined, (e: unknown) => e))
    t.type(err, RedisUnavailableError)
    t.match(log.text(), /certificate/, 'the log line says why')
  })
})

t.test('scrubber: a URL with a password, or the password alone, is redacted', async t => {
  const scrub = scrubber(['redis://u:p%40ss@h:1', 'p@ss', 'p%40ss'])
  t.equal(scrub('connect to redis://u:p%40ss@h:1 failed'), 'connect to [redacted] failed')
  t.equal(scrub('auth p@ss refused'), 'auth [redacted] refused')
  t.equal(scrub('see rediss://admin:hunter2@other:6380/0'), 'see rediss://admin:[redacted]@other:6380/0', 'any userinfo password, even one not configured')
})
