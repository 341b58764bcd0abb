// Two real gateway processes (two replicas) on one real Redis and one simulator: the
// Idempotency-Key promise holds across them, and the shared store failing fails closed.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { postDocument } from './helpers/http.js'
import { copies, REDIS_PASSWORD, startReplicas } from './helpers/replicas.js'

t.test('the same key on both replicas at the same moment makes one upload; the other gets 409 or the stored 201', async t => {
  const { sim, a, b } = await startReplicas(t)
  for (let round = 0; round < 5; round++) {
    const name = `po-${round}.edi`
    const key = `k-same-${round}`
    const [ra, rb] = await Promise.all([
      postDocument(a.url, name, `order ${round}`, { 'idempotency-key': key }),
      postDocument(b.url, name, `order ${round}`, { 'idempotency-key': key })
    ])
    const statuses = [ra.status, rb.status].sort()
    t.ok(statuses.includes(201), `round ${round}: one delivered (${statuses.join(',')})`)
    for (const r of [ra, rb]) {
      if (r.status === 409) t.equal(r.json().type, 'urn:cic-gateway:problem:idempotency-key-in-use')
      else t.equal(r.status, 201)
    }
    t.equal(copies(sim, name), 1, `round ${round}: CIC holds one copy`)
  }
})

t.test('a repeat on the other replica gets the stored 201; another body gets 422', async t => {
  const { sim, a, b } = await startReplicas(t)
  const first = await postDocument(a.url, 'inv-1.edi', 'invoice one', { 'idempotency-key': 'k-other' })
  t.equal(first.status, 201)
  const again = await postDocument(b.url, 'inv-1.edi', 'invoice one', { 'idempotency-key': 'k-other' })
  t.equal(again.status, 201)
  t.equal(again.headers['idempotent-replayed'], 'stored')
  t.equal(again.text, first.text, 'CIC\'s own answer, from the other replica')
  const other = await postDocument(b.url, 'inv-1.edi', 'another invoice', { 'idempotency-key': 'k-other' })
  t.equal(other.status, 422)
  t.equal(copies(sim, 'inv-1.edi'), 1)
})

t.test('Redis stopped: keyed requests get 503 (safe to resend), unkeyed ones 201; after Redis restarts keyed ones work again', async t => {
  const { a, b, redis } = await startReplicas(t)
  t.equal((await postDocument(a.url, 'warm.edi', 'w', { 'idempotency-key': 'k-warm' })).status, 201)
  await redis.stop()
  const keyed = await postDocument(a.url, 'down.edi', 'x', { 'idempotency-key': 'k-down' })
  t.equal(keyed.status, 503)
  t.equal(keyed.json().type, 'urn:cic-gateway:problem:idempotency-store-unavailable')
  t.equal(keyed.json().delivered, 'no')
  t.ok(keyed.headers['retry-after'])
  t.equal((await postDocument(b.url, 'plain.edi', 'y')).status, 201, 'requests without a key keep working')
  const ready = await fetch(`${b.url}/readyz`)
  t.equal(ready.status, 200, 'Redis down does not make the pod unready')
  await redis.start()
  let again = 0
  for (let i = 0; i < 40 && again !== 201; i++) {
    await sleep(250)
    again = (await postDocument(a.url, 'down.edi', 'x', { 'idempotency-key': 'k-down' })).status
  }
  t.equal(again, 201, 'keyed requests work again without a restart')
  for (const gw of [a, b]) {
    const text = gw.lines.map(l => JSON.stringify(l)).join('\n') + gw.stderr()
    t.notOk(text.includes(REDIS_PASSWORD), 'the Redis password is in no log line')
  }
  t.ok(a.lines.some(l => l.event === 'redis.state' && l.up === false), 'a log line says the store is down')
})
