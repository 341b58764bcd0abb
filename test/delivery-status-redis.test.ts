// The shared delivery status store (src/delivery/outbox/status-redis.ts) against a real
// redis-server: an older state written after a newer one does not win, lists follow the
// state sets and page by id, another caller's record is not answered, expired records
// leave the lists; and the publisher that feeds it writes the latest state even when the
// writes race.
import { createHash } from 'node:crypto'
import t from 'tap'
import pino from 'pino'
import { RedisConnection } from '../src/redis/connection.js'
import { RedisDeliveryStatusStore } from '../src/delivery/outbox/status-redis.js'
import { StatusPublisher } from '../src/delivery/outbox/status-publisher.js'
import type { DeliveryState, DeliveryStatus } from '../src/delivery/outbox/types.js'
import { until } from './helpers/outbox.js'
import { startRedis } from './helpers/redis.js'

const OWNER = { id: '7f3c1a52-0d4e-4b8a-9c1f-2e6d5a4b3c21', host: 'replica-a' }

/** A UUIDv7 of that millisecond (the outbox's ids: their order is the acceptance order). */
function idAt (ms: number, n: number): string {
  const hex = ms.toString(16).padStart(12, '0') + '7000' + '8000' + n.toString(16).padStart(12, '0')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

function status (id: string, state: DeliveryState, caller = 'erp', extra: Partial<DeliveryStatus> = {}): DeliveryStatus {
  return { id, state, caller, mailbox: 'default', filename: `${id}.edi`, bytes: 3, sha256: 'x', acceptedAt: new Date().toISOString(), attempts: state === 'queued' ? 0 : 1, ...extra }
}

async function storeOn (t: Parameters<typeof startRedis>[0]): Promise<{ store: RedisDeliveryStatusStore, connection: RedisConnection }> {
  const redis = await startRedis(t)
  const connection = new RedisConnection({ url: redis.url, keyPrefix: 'test:' })
  t.teardown(async () => { await connection.close() })
  if (!await connection.ready(5000)) throw new Error('Redis not ready')
  return { store: new RedisDeliveryStatusStore(connection), connection }
}

t.test('an older status written after a newer one does not win: the record, and the state lists', async t => {
  const { store } = await storeOn(t)
  const id = idAt(Date.now(), 1)
  t.equal(await store.put({ status: status(id, 'delivered', 'erp', { cic: { id: 'f-1' } }), version: 20, owner: OWNER }), true)
  t.equal(await store.put({ status: status(id, 'queued'), version: 10, owner: OWNER }), false, 'the late write of the earlier state is refused')
  t.equal(await store.put({ status: status(id, 'delivering'), version: 20, owner: OWNER }), false, 'the same version does not replace it either')
  const got = await store.get(id, 'erp')
  t.equal(got?.status.state, 'delivered')
  t.same(got?.status.cic, { id: 'f-1' })
  t.equal(got?.owner, OWNER.id, 'the record names its owner')
  t.same((await store.list('erp', 'delivered', { limit: 10 })).items.map(s => s.id), [id])
  t.same((await store.list('erp', 'queued', { limit: 10 })).items, [], 'not listed under the older state')
  t.same(await store.states([id, idAt(Date.now(), 2)]), ['delivered', undefined])

  // A later state moves it between the lists.
  t.equal(await store.put({ status: status(id, 'failed'), version: 30, owner: OWNER }), true)
  t.same((await store.list('erp', 'delivered', { limit: 10 })).items, [])
  t.same((await store.list('erp', 'failed', { limit: 10 })).items.map(s => s.id), [id])
})

t.test('another caller\'s delivery is not answered, nor listed', async t => {
  const { store } = await storeOn(t)
  const id = idAt(Date.now(), 3)
  await store.put({ status: status(id, 'queued', 'erp'), version: 1, owner: OWNER })
  t.equal(await store.get(id, 'wms'), undefined)
  t.equal(await store.get(idAt(Date.now(), 4), 'erp'), undefined, 'an unknown id')
  t.same((await store.list('wms', 'queued', { limit: 10 })).items, [])
  t.equal((await store.get(id, 'erp'))?.status.id, id)
})

t.test('lists are oldest first by id, paged with the after cursor', async t => {
  const { store } = await storeOn(t)
  const base = Date.now() - 10_000
  // Two in the same millisecond, the others apart; written out of order.
  const ids = [idAt(base, 1), idAt(base, 2), idAt(base + 5, 1), idAt(base + 900, 1), idAt(base + 9000, 1)]
  for (const id of [...ids].reverse()) await store.put({ status: status(id, 'failed'), version: 1, owner: OWNER })
  const first = await store.list('erp', 'failed', { limit: 2 })
  t.same(first.items.map(s => s.id), ids.slice(0, 2))
  t.equal(first.next, ids[1])
  const second = await store.list('erp', 'failed', { limit: 2, after: first.next })
  t.same(second.items.map(s => s.id), ids.slice(2, 4))
  const last = await store.list('erp', 'failed', { limit: 2, after: second.next })
  t.same(last.items.map(s => s.id), ids.slice(4))
  t.equal(last.next, undefined)
})

t.test('a settled record expires with its TTL and leaves the list', async t => {
  const { store, connection } = await storeOn(t)
  const gone = idAt(Date.now() - 1000, 1)
  const kept = idAt(Date.now(), 2)
  await store.put({ status: status(gone, 'delivered'), version: 1, owner: OWNER, ttlMs: 50 })
  await store.put({ status: status(kept, 'delivered'), version: 1, owner: OWNER, ttlMs: 60_000 })
  await until(async () => await store.get(gone, 'erp') === undefined, 5000, 'expired')
  t.same((await store.list('erp', 'delivered', { limit: 10 })).items.map(s => s.id), [kept])
  const members = await connection.client.zrange(`test:dlv-list:${createHash('sha256').update('erp').digest('hex')}:delivered`, 0, -1)
  t.same(members, [kept], 'the expired id was removed from the set')
})

t.test('the publisher writes each delivery\'s last state, whatever order its writes finish in', async t => {
  const { store } = await storeOn(t)
  const publisher = new StatusPublisher({ store, owner: OWNER, keepSettledMs: 60_000, logger: pino({ level: 'silent' }) })
  const ids = Array.from({ length: 50 }, (_, i) => idAt(Date.now(), 100 + i))
  const writes: Array<Promise<void>> = []
  for (const id of ids) {
    for (const state of ['queued', 'delivering', 'queued', 'delivering', 'delivered'] as const) {
      writes.push(publisher.publish(status(id, state), state === 'delivered' ? new Date().toISOString() : undefined))
    }
  }
  await Promise.all(writes)
  t.same(await store.states(ids), ids.map(() => 'delivered'))
  t.equal((await store.list('erp', 'delivered', { limit: 100 })).items.length, 50)
  t.same((await store.list('erp', 'queued', { limit: 100 })).items, [])
  t.same((await store.list('erp', 'delivering', { limit: 100 })).items, [])
  await publisher.close()
})
