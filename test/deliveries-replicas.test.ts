// Store and forward on two replicas (issue 14, "Several replicas"): two real gateway
// processes, each with its own OUTBOX_DIR, one real redis-server logged into as the
// README's ACL user, one simulator. With REDIS_URL the delivery status records live in
// Redis, so GET /deliveries/{id} and GET /deliveries answer on any replica, a retry on the
// other replica is carried out by the owner, and an Idempotency-Key repeat on the other
// replica returns the first one's delivery.
import { mkdtemp, rm } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { postDocument, send, type Reply } from './helpers/http.js'
import { until } from './helpers/outbox.js'
import { spawnGateway, type GatewayProcess } from './helpers/process.js'
import { startRedis } from './helpers/redis.js'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator } from '../src/simulator/index.js'

const README = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8')
const ACL_PASSWORD = 'acl-pass-delivery-7c1e94b2'
const KEY_1 = 'replicas-key-one-0123456789abcdef'
const KEY_2 = 'replicas-key-two-0123456789abcdef'
const AS_1 = { authorization: `Bearer ${KEY_1}` }
const AS_2 = { authorization: `Bearer ${KEY_2}` }
const UNKNOWN_ID = '01900000-0000-7000-8000-000000000000'

// The README's ACL line, as an operator would apply it: everything below must work within it.
const aclLine = /^ACL SETUSER (.+)$/m.exec(README)?.[1]
if (aclLine === undefined) throw new Error('README has no ACL SETUSER line')
const [aclUser, ...aclRules] = aclLine.trim().split(/\s+/)
const redis = await startRedis(t, { args: ['--user', aclUser!, ...aclRules.map(r => r === '>PASSWORD' ? `>${ACL_PASSWORD}` : r)] })
const sim = await startSimulator({ keepBodies: true, sameNamePolicy: 'rename' })
t.teardown(async () => { await sim.close() })
const root = await mkdtemp(join(tmpdir(), 'cic-gateway-deliveries-replicas-'))
t.teardown(async () => { await rm(root, { recursive: true, force: true }) })

const env = (name: string): Record<string, string> => ({
  CIC_BASE_URL: sim.url,
  CIC_USERNAME: DEMO_USERNAME,
  CIC_PASSWORD: DEMO_PASSWORD,
  CIC_RETRIES: '0',
  GATEWAY_API_KEYS: `${KEY_1},${KEY_2}`,
  REDIS_URL: redis.url.replace('redis://', `redis://${aclUser!}@`) + '/1',
  REDIS_PASSWORD: ACL_PASSWORD,
  OUTBOX_DIR: join(root, name)
})
const a = await spawnGateway(env('outbox-a'), 20_000, [ACL_PASSWORD])
t.teardown(() => { a.child.kill('SIGKILL') })
const b = await spawnGateway(env('outbox-b'), 20_000, [ACL_PASSWORD])
t.teardown(() => { b.child.kill('SIGKILL') })

const get = async (gw: GatewayProcess, path: string, headers: Record<string, string> = AS_1): Promise<Reply> => await send(`${gw.url}${path}`, { method: 'GET', headers })
const retry = async (gw: GatewayProcess, id: string): Promise<Reply> => await send(`${gw.url}/deliveries/${id}/retry`, { method: 'POST', headers: AS_1 })
const stateOn = async (gw: GatewayProcess, id: string): Promise<unknown> => (await get(gw, `/deliveries/${id}`)).json().state

async function submit (gw: GatewayProcess, filename: string, body: string, headers: Record<string, string> = {}): Promise<Reply> {
  return await postDocument(gw.url, filename, body, { prefer: 'respond-async', ...AS_1, ...headers })
}

/** A problem body without the per-request fields, to compare two answers. */
function problemShape (res: Reply): Record<string, unknown> {
  const { requestId: _id, ...rest } = res.json() as Record<string, unknown>
  return { status: res.status, type: res.headers['content-type'], ...rest }
}

t.test('a document accepted on A is read on B, followed to delivered with CIC\'s file resource; another caller gets 404 there', async t => {
  const accepted = await submit(a, 'po-replicas.edi', 'ISA*00*~ order for two replicas')
  t.equal(accepted.status, 202)
  const { id } = accepted.json() as { id: string }
  // Read at once on the other replica: the 202 was sent after the shared record was written.
  const first = await get(b, `/deliveries/${id}`)
  t.equal(first.status, 200, `B answers for A's delivery (${first.text.slice(0, 200)})`)
  t.equal(first.json().id, id)
  t.equal(first.json().filename, 'po-replicas.edi')
  await until(async () => await stateOn(b, id) === 'delivered', 20_000, 'delivered, as seen on B')
  const done = (await get(b, `/deliveries/${id}`)).json()
  const file = sim.files().find(f => f.name === 'po-replicas.edi')
  t.ok(file, 'CIC holds it')
  t.match(done, { state: 'delivered', attempts: 1, cic: { id: file!.id, name: 'po-replicas.edi' } })
  t.same(done, (await get(a, `/deliveries/${id}`)).json(), 'B answers what A answers')
  t.notOk('caller' in done || 'idempotencyKey' in done, 'no bookkeeping in the answer')

  const theirs = await get(b, `/deliveries/${id}`, AS_2)
  const unknown = await get(b, `/deliveries/${UNKNOWN_ID}`, AS_2)
  t.equal(theirs.status, 404)
  t.same(problemShape(theirs), problemShape(unknown), 'another caller\'s id is answered exactly like an unknown one')
})

/** A delivery B holds, delivered in the list test (the Redis test finds it again after Redis lost its data). */
let deliveredOnB = UNKNOWN_ID

t.test('the state list on B includes A\'s deliveries, and both replicas list the same', async t => {
  const ids: string[] = []
  for (const [gw, n] of [[a, 1], [b, 2], [a, 3]] as const) {
    const res = await submit(gw, `list-${n}.edi`, `listed document ${n}`)
    t.equal(res.status, 202)
    ids.push(res.json().id as string)
  }
  for (const id of ids) await until(async () => await stateOn(b, id) === 'delivered', 20_000, `${id} delivered`)
  deliveredOnB = ids[1]!
  const onB = (await get(b, '/deliveries?state=delivered&limit=1000')).json().items.map((s: { id: string }) => s.id)
  const onA = (await get(a, '/deliveries?state=delivered&limit=1000')).json().items.map((s: { id: string }) => s.id)
  for (const id of ids) t.ok(onB.includes(id), `${id} listed on B`)
  t.same(onA, onB, 'A lists the same')
  t.same([...onB].sort(), onB, 'oldest first')
  // Paged with the same cursor on either replica.
  const page = await get(b, '/deliveries?state=delivered&limit=1')
  t.equal(page.json().items.length, 1)
  const rest = await get(a, `/deliveries?state=delivered&limit=1000&after=${page.json().next as string}`)
  t.same([page.json().items[0].id, ...rest.json().items.map((s: { id: string }) => s.id)], onB)
  t.same((await get(b, '/deliveries?state=delivered', AS_2)).json().items, [], 'not another caller\'s')
})

t.test('a delivery that failed on A is retried through B: A requeues it and delivers it', async t => {
  sim.inject('upload', { status: 415, times: 1 })
  const accepted = await submit(a, 'refused-once.edi', 'refused the first time')
  const { id } = accepted.json() as { id: string }
  await until(async () => await stateOn(b, id) === 'failed', 20_000, 'failed, as seen on B')
  t.match((await get(b, `/deliveries/${id}`)).json(), { lastError: { code: 'cic-rejected', upstreamStatus: 415 } })
  const failedOnB = (await get(b, '/deliveries?state=failed')).json().items.map((s: { id: string }) => s.id)
  t.ok(failedOnB.includes(id), 'listed as failed on B')

  const res = await retry(b, id)
  t.equal(res.status, 202, `retried through B (${res.text.slice(0, 200)})`)
  t.equal(res.headers.location, `/deliveries/${id}`)
  t.not(res.json().state, 'failed', 'the owner put it back in its queue')
  // A's log line may reach the test after B's answer.
  await until(() => a.lines.some(l => l.event === 'outbox.retry-requested' && l.id === id), 5000, 'A did the retry')
  await until(async () => await stateOn(b, id) === 'delivered', 20_000, 'delivered after the retry')
  t.equal(sim.files().filter(f => f.name === 'refused-once.edi').length, 1, 'in CIC once')
  const again = await retry(b, id)
  t.equal(again.status, 409, 'a delivered one is not retried')
})

t.test('an Idempotency-Key repeat on B of a document accepted on A returns A\'s delivery, not a second copy', async t => {
  const first = await submit(a, 'keyed-replicas.edi', 'keyed body', { 'idempotency-key': 'k-replicas-1' })
  t.equal(first.status, 202)
  const { id } = first.json() as { id: string }
  const repeat = await submit(b, 'keyed-replicas.edi', 'keyed body', { 'idempotency-key': 'k-replicas-1' })
  t.ok(repeat.status === 202 || repeat.status === 201, `answered (${repeat.status} ${repeat.text.slice(0, 200)})`)
  t.equal(repeat.headers['idempotent-replayed'], 'stored')
  if (repeat.status === 202) t.equal(repeat.json().id, id, 'the same delivery')
  await until(async () => await stateOn(b, id) === 'delivered', 20_000, 'delivered')
  const later = await submit(b, 'keyed-replicas.edi', 'keyed body', { 'idempotency-key': 'k-replicas-1' })
  t.equal(later.status, 201, 'once delivered: CIC\'s 201, from the shared record')
  t.same(later.json(), (await get(a, `/deliveries/${id}`)).json().cic)
  t.equal(sim.files().filter(f => f.name.startsWith('keyed-replicas')).length, 1, 'CIC holds one copy')
})

t.test('Redis stopped: A still answers for its own deliveries and accepts; B says 503; once Redis is back, B sees what happened meanwhile', async t => {
  await redis.stop()
  const accepted = await submit(a, 'during-outage.edi', 'accepted while Redis is down')
  t.equal(accepted.status, 202, 'accepting does not depend on Redis')
  const { id } = accepted.json() as { id: string }
  await until(async () => await stateOn(a, id) === 'delivered', 20_000, 'delivered, as A says')
  const onB = await get(b, `/deliveries/${id}`)
  t.equal(onB.status, 503)
  t.equal(onB.json().type, 'urn:cic-gateway:problem:delivery-status-unavailable')
  t.ok(onB.headers['retry-after'])
  t.equal((await get(b, '/deliveries?state=failed')).json().type, 'urn:cic-gateway:problem:delivery-status-unavailable', 'a list spanning the replicas cannot be answered')

  // Restarted empty (no persistence): every record comes back from the owners' disks.
  await redis.start()
  await until(async () => (await get(b, `/deliveries/${id}`)).status === 200, 30_000, 'B answers again')
  t.equal(await stateOn(b, id), 'delivered', 'the state A reached while Redis was down')
  await until(async () => (await get(a, `/deliveries/${deliveredOnB}`)).status === 200, 30_000, 'A answers for B\'s delivery again')
  t.equal(await stateOn(a, deliveredOnB), 'delivered', 'B wrote its records again too, though none of its writes had failed')
  await until(() => a.lines.some(l => l.event === 'delivery-status.resynced'), 5000, 'the catch-up is logged')
  t.equal(a.lines.filter(l => l.event === 'delivery-status.unavailable').length, 1, 'the outage is logged once')
})

t.test('with A stopped, a retry of A\'s failed delivery through B answers 503 delivery-owner-unavailable; its status is still read on B', async t => {
  sim.inject('upload', { status: 415, times: 1 })
  const accepted = await submit(a, 'owner-gone.edi', 'refused, then its owner stops')
  const { id } = accepted.json() as { id: string }
  await until(async () => await stateOn(b, id) === 'failed', 20_000, 'failed, as seen on B')
  a.child.kill('SIGTERM')
  await a.exited
  const res = await retry(b, id)
  t.equal(res.status, 503)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.equal(res.json().type, 'urn:cic-gateway:problem:delivery-owner-unavailable')
  t.ok(Number(res.headers['retry-after']) > 0, 'Retry-After')
  const status = await get(b, `/deliveries/${id}`)
  t.equal(status.status, 200)
  t.equal(status.json().state, 'failed', 'unchanged: only its owner can requeue it')
})

t.test('with REDIS_URL /openapi.json documents the 503s of the delivery routes', async t => {
  const doc = (await get(b, '/openapi.json', {})).json()
  t.ok(doc.paths['/deliveries/{id}'].get.responses['503'], 'GET /deliveries/{id}: delivery-status-unavailable')
  t.ok(doc.paths['/deliveries'].get.responses['503'], 'GET /deliveries: delivery-status-unavailable')
  const retry503 = doc.paths['/deliveries/{id}/retry'].post.responses['503']
  t.match(retry503.description, /delivery-owner-unavailable/)
  t.ok(retry503.headers['retry-after'], 'with Retry-After')
})
