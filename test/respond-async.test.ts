// Prefer: respond-async (RFC 7240) on the document routes: 202 once the document is kept in
// the outbox, delivered later exactly once; an Idempotency-Key repeat gets the same delivery.
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { postDocument, send } from './helpers/http.js'
import { until } from './helpers/outbox.js'
import { startStack } from './helpers/stack.js'

const ASYNC = { prefer: 'respond-async' }
const sha256 = (b: string): string => createHash('sha256').update(b).digest('base64')

async function outboxStack (t: Parameters<typeof startStack>[0]): ReturnType<typeof startStack> {
  const dir = await mkdtemp(join(tmpdir(), 'cic-gateway-async-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return await startStack(t, { env: { OUTBOX_DIR: join(dir, 'outbox') }, sim: { sameNamePolicy: 'rename' } })
}

t.test('Prefer: respond-async answers 202 with the delivery, which the outbox then delivers once', async t => {
  const stack = await outboxStack(t)
  const res = await postDocument(stack.url, 'async-po.edi', 'ISA*00~order', ASYNC)
  t.equal(res.status, 202)
  t.equal(res.headers['preference-applied'], 'respond-async')
  const body = res.json()
  t.equal(res.headers.location, `/deliveries/${String(body.id)}`)
  t.match(body, { state: 'queued', mailbox: 'default', filename: 'async-po.edi', bytes: 12, sha256: sha256('ISA*00~order') })
  t.ok(typeof body.acceptedAt === 'string')
  await until(() => stack.sim.files().some(f => f.name === 'async-po.edi'), 15_000, 'delivered into CIC')
  let status: Record<string, unknown> = {}
  await until(async () => {
    status = (await send(`${stack.url}/deliveries/${String(body.id)}`, { method: 'GET' })).json()
    return status.state === 'delivered'
  }, 15_000, 'the status says delivered')
  t.equal((status.cic as { name?: string }).name, 'async-po.edi', 'CIC\'s 201 JSON in the status')
  t.equal(stack.sim.files().filter(f => f.name.startsWith('async-po')).length, 1)
})

t.test('an Idempotency-Key repeat of an accepted document gets the same delivery, then CIC\'s 201, never a second copy', async t => {
  const stack = await outboxStack(t)
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  // CIC slow: the repeat arrives while the document is still in the outbox.
  stack.sim.inject('upload', { delayMs: 1500 })
  const first = await postDocument(stack.url, 'keyed.edi', 'invoice 810', { ...ASYNC, 'idempotency-key': 'k-async' })
  t.equal(first.status, 202)
  const again = await postDocument(stack.url, 'keyed.edi', 'invoice 810', { ...ASYNC, 'idempotency-key': 'k-async' })
  t.equal(again.status, 202)
  t.equal(again.json().id, first.json().id, 'the same delivery')
  t.equal(again.headers['idempotent-replayed'], 'stored')
  const other = await postDocument(stack.url, 'keyed.edi', 'another body', { ...ASYNC, 'idempotency-key': 'k-async' })
  t.equal(other.status, 422, 'same key, other body')
  await until(() => stack.sim.files().some(f => f.name === 'keyed.edi'), 15_000, 'delivered')
  await until(async () => (await send(`${stack.url}/deliveries/${String(first.json().id)}`, { method: 'GET' })).json().state === 'delivered', 15_000, 'settled in the outbox')
  const later = await postDocument(stack.url, 'keyed.edi', 'invoice 810', { 'idempotency-key': 'k-async' })
  t.equal(later.status, 201, 'once delivered, the repeat gets CIC\'s 201')
  t.equal(later.json().name, 'keyed.edi')
  t.equal(stack.sim.files().filter(f => f.name.startsWith('keyed')).length, 1, 'one copy in CIC')
})

t.test('without an outbox the preference is ignored: the document is delivered synchronously (RFC 7240)', async t => {
  const stack = await startStack(t)
  const res = await postDocument(stack.url, 'sync.edi', 'x', ASYNC)
  t.equal(res.status, 201)
  t.equal(res.headers['preference-applied'], undefined)
  t.ok(stack.sim.files().some(f => f.name === 'sync.edi'))
})

t.test('a full outbox answers 503 outbox-full with Retry-After, delivered: no; nothing is kept, and a document that fits is still accepted', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'cic-gateway-async-full-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  // CIC refuses every upload for now, so what is accepted stays in the outbox.
  const stack = await startStack(t, { env: { OUTBOX_DIR: join(dir, 'outbox'), OUTBOX_MAX_BYTES: '1000' } })
  stack.sim.inject('upload', { status: 503, times: 1000, headers: { 'retry-after': '60' } })
  const first = await postDocument(stack.url, 'first.edi', 'x'.repeat(600), ASYNC)
  t.equal(first.status, 202)
  const full = await postDocument(stack.url, 'second.edi', 'y'.repeat(600), ASYNC)
  t.equal(full.status, 503)
  t.match(full.headers['content-type'], /^application\/problem\+json/)
  t.ok(Number(full.headers['retry-after']) > 0, 'Retry-After tells the caller when to resend')
  t.match(full.json(), { type: 'urn:cic-gateway:problem:outbox-full', status: 503, delivered: 'no' })
  t.same((await readdir(join(dir, 'outbox', 'queue'))).sort(), [String(first.json().id), `${String(first.json().id)}.json`].sort(), 'only the first document is kept')
  t.same(await readdir(join(dir, 'outbox', 'tmp')), [])
  const small = await postDocument(stack.url, 'small.edi', 'z'.repeat(300), ASYNC)
  t.equal(small.status, 202, 'a document that fits the remaining room is accepted')
})
