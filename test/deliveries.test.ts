// Store and forward over HTTP (issue 14): GET /deliveries/{id}, GET /deliveries?state=,
// POST /deliveries/{id}/retry against a real gateway (OUTBOX_DIR set) on the simulator.
// Documents are put into the gateway's own outbox with outbox.accept(), as the
// `Prefer: respond-async` branch of the document routes does.
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { Ajv2020 } from 'ajv/dist/2020.js'
import t from 'tap'
import type { Outbox } from '../src/delivery/outbox/index.js'
import { send, type Reply } from './helpers/http.js'
import { until } from './helpers/outbox.js'
import { scrape } from './helpers/prometheus.js'
import { startStack, type Stack } from './helpers/stack.js'

const KEY_1 = 'deliveries-key-one-0123456789abcdef'
const KEY_2 = 'deliveries-key-two-0123456789abcdef'
const AS_1 = { authorization: `Bearer ${KEY_1}` }
const AS_2 = { authorization: `Bearer ${KEY_2}` }
/** GATEWAY_API_KEYS names its callers api-key-1, api-key-2. */
const CALLER_1 = 'api-key-1'
const CALLER_2 = 'api-key-2'
const UNKNOWN_ID = '01900000-0000-7000-8000-000000000000'

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('base64')
const hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

async function outboxStack (t: Parameters<typeof startStack>[0], env: Record<string, string> = {}): Promise<Stack & { outbox: Outbox }> {
  const dir = await mkdtemp(join(tmpdir(), 'cic-gateway-deliveries-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: `${KEY_1},${KEY_2}`, OUTBOX_DIR: join(dir, 'outbox'), ...env } })
  const outbox = stack.gateway.outbox
  if (outbox === null) throw new Error('OUTBOX_DIR set, yet the gateway has no outbox')
  return { ...stack, outbox }
}

async function accept (outbox: Outbox, caller: string, filename: string, body: Buffer): Promise<string> {
  const status = await outbox.accept({ caller, mailbox: 'default', filename, source: Readable.from([body]), expectedLength: body.length, maxBytes: 1024 * 1024 })
  return status.id
}

const get = async (stack: Stack, path: string, headers: Record<string, string> = AS_1): Promise<Reply> => await send(`${stack.url}${path}`, { method: 'GET', headers })
const stateOf = async (stack: Stack, id: string): Promise<string> => (await get(stack, `/deliveries/${id}`)).json().state

/** A problem body without the per-request fields, to compare two answers. */
function problemShape (res: Reply): Record<string, unknown> {
  const { requestId: _id, ...rest } = res.json() as Record<string, unknown>
  return { status: res.status, type: res.headers['content-type'], ...rest }
}

t.test('GET /deliveries/{id} follows an accepted document to delivered, with CIC\'s file resource; only for its caller', async t => {
  const stack = await outboxStack(t)
  const body = Buffer.from('ISA*00*~' + 'y'.repeat(3000))
  const id = await accept(stack.outbox, CALLER_1, 'po-async.edi', body)
  await until(async () => await stateOf(stack, id) === 'delivered', 15_000, 'delivered')

  const res = await get(stack, `/deliveries/${id}`)
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  const status = res.json()
  const [file, ...more] = stack.sim.files()
  t.same(more, [], 'CIC holds the document once')
  t.equal(file!.sha256, hex(body), 'with the accepted bytes')
  t.match(status, { id, state: 'delivered', mailbox: 'default', filename: 'po-async.edi', bytes: body.length, sha256: sha256(body), attempts: 1, cic: { id: file!.id, name: 'po-async.edi' } })
  t.ok(!Number.isNaN(Date.parse(status.acceptedAt)) && !Number.isNaN(Date.parse(status.deliveredAt)), 'acceptedAt and deliveredAt are times')
  t.notOk('caller' in status, 'the caller\'s name is not part of the answer')
  t.notOk('nextAttemptAt' in status || 'lastError' in status, 'a delivered one has no next attempt and no error')

  // Another caller's id is answered exactly like an unknown one.
  const foreign = await get(stack, `/deliveries/${id}`, AS_2)
  const unknown = await get(stack, `/deliveries/${UNKNOWN_ID}`, AS_2)
  t.equal(foreign.status, 404)
  t.equal(foreign.json().type, 'urn:cic-gateway:problem:delivery-not-found')
  t.same(problemShape(foreign), problemShape(unknown), 'identical answers: an id reveals nothing about other callers')
  t.notMatch(foreign.text, id, 'the id is not echoed')

  const anonymous = await get(stack, `/deliveries/${id}`, {})
  t.equal(anonymous.status, 401, 'the API key is required, like on the document routes')
  t.equal(anonymous.json().type, 'urn:cic-gateway:problem:unauthorized')
  const malformed = await get(stack, '/deliveries/not-an-id')
  t.equal(malformed.status, 400)
  t.match(malformed.headers['content-type'], /^application\/problem\+json/)
  t.notMatch(malformed.text, 'not-an-id', 'nothing from the input is reflected')
})

t.test('failed deliveries: listed per caller and state, paged (next and Link), retried with POST /deliveries/{id}/retry', async t => {
  const stack = await outboxStack(t)
  // CIC refuses the file type: a permanent failure, not retried by the outbox.
  stack.sim.inject('upload', { status: 415, times: 6 })
  const mine: string[] = []
  for (let i = 0; i < 5; i++) mine.push(await accept(stack.outbox, CALLER_1, `refused-${i}.edi`, Buffer.from(`doc ${i}`)))
  const theirs = await accept(stack.outbox, CALLER_2, 'theirs.edi', Buffer.from('theirs'))
  await until(async () => (await stack.outbox.list(CALLER_1, 'failed', { limit: 10 })).items.length === 5 && (await stack.outbox.get(theirs, CALLER_2))?.state === 'failed', 15_000, 'all failed')

  const failed = (await get(stack, `/deliveries/${mine[0]!}`)).json()
  t.match(failed, { state: 'failed', attempts: 1, lastError: { code: 'cic-rejected', upstreamStatus: 415 } })
  t.type(failed.lastError.title, 'string')

  // Pages of two, oldest first, following the Link header as a client would.
  const seen: string[] = []
  let path: string | undefined = '/deliveries?state=failed&limit=2'
  let pages = 0
  while (path !== undefined && pages < 10) {
    const page = await get(stack, path)
    t.equal(page.status, 200)
    const json = page.json()
    seen.push(...json.items.map((i: { id: string }) => i.id))
    const link = page.headers.link as string | undefined
    if (json.next !== undefined) {
      t.equal(link, `</deliveries?state=failed&limit=2&after=${String(json.next)}>; rel="next"`, 'Link rel="next" says what next says')
      t.equal(json.next, json.items.at(-1).id, 'the cursor is the last id of the page')
    } else {
      t.equal(link, undefined, 'no Link on the last page')
    }
    path = link === undefined ? undefined : /^<([^>]+)>/.exec(link)![1]
    pages++
  }
  t.equal(pages, 3, '5 deliveries in pages of 2')
  t.same(seen, mine, 'every failed delivery of the caller, once, oldest first')
  t.same((await get(stack, '/deliveries?state=failed', AS_2)).json(), { items: [(await get(stack, `/deliveries/${theirs}`, AS_2)).json()] }, 'the other caller sees only its own')
  t.same((await get(stack, '/deliveries?state=queued')).json(), { items: [] })
  for (const bad of ['/deliveries', '/deliveries?state=lost', '/deliveries?state=failed&limit=0', '/deliveries?state=failed&after=x']) {
    const res = await get(stack, bad)
    t.equal(res.status, 400, `${bad}: 400`)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
  }
  t.equal((await get(stack, '/deliveries?state=failed', {})).status, 401)

  // The metrics count each failure once, by mailbox and code.
  const m = await scrape(stack.url)
  t.equal(m.value('cic_gateway_outbox_failed_total', { mailbox: 'default', code: 'cic-rejected' }), 6)
  t.equal(m.value('cic_gateway_outbox_failed_documents'), 6, 'kept for a retry')
  t.equal(m.value('cic_gateway_outbox_queued_documents'), 0)
  t.equal(m.value('cic_gateway_outbox_oldest_queued_seconds'), 0, 'nothing waiting: the failed ones are not queued')

  // CIC accepts again: a retry puts one back, and it is delivered.
  const retried = await send(`${stack.url}/deliveries/${mine[0]!}/retry`, { headers: AS_1 })
  t.equal(retried.status, 202)
  t.equal(retried.headers.location, `/deliveries/${mine[0]!}`)
  t.match(retried.json(), { id: mine[0], state: /^(queued|delivering|delivered)$/ })
  await until(async () => await stateOf(stack, mine[0]!) === 'delivered', 15_000, 'retried delivery delivered')
  t.same(stack.sim.files().map(f => f.name), ['refused-0.edi'], 'delivered once')

  // Anything but a failed delivery: 409; an unknown or another caller's: 404, the same answer.
  const again = await send(`${stack.url}/deliveries/${mine[0]!}/retry`, { headers: AS_1 })
  t.equal(again.status, 409)
  t.equal(again.json().type, 'urn:cic-gateway:problem:delivery-not-failed')
  const foreign = await send(`${stack.url}/deliveries/${theirs}/retry`, { headers: AS_1 })
  const unknown = await send(`${stack.url}/deliveries/${UNKNOWN_ID}/retry`, { headers: AS_1 })
  t.equal(foreign.status, 404)
  t.same(problemShape(foreign), problemShape(unknown))
  t.equal((await stack.outbox.get(theirs, CALLER_2))?.state, 'failed', 'another caller cannot retry it')
  t.equal((await send(`${stack.url}/deliveries/${mine[1]!}/retry`, { headers: {} })).status, 401)

  const after = await scrape(stack.url)
  t.equal(after.value('cic_gateway_outbox_delivered_total', { mailbox: 'default' }), 1)
  t.equal(after.value('cic_gateway_outbox_failed_documents'), 5)
})

t.test('while CIC is down the gauges show what waits: queued documents, bytes, the oldest one\'s age', async t => {
  const stack = await outboxStack(t, { CIC_RETRIES: '0' })
  stack.sim.inject('upload', { status: 503, times: 1000 })
  const body = Buffer.alloc(2048, 0x41)
  const id = await accept(stack.outbox, CALLER_1, 'waiting.edi', body)
  await until(async () => (await stack.outbox.get(id, CALLER_1))!.lastError !== undefined, 15_000, 'a first attempt refused')
  const status = (await get(stack, `/deliveries/${id}`)).json()
  t.match(status, { state: /^(queued|delivering)$/, lastError: { code: /^(cic-unavailable|circuit-open)$/ } })
  t.ok(status.attempts >= 1)
  await until(async () => (await scrape(stack.url)).value('cic_gateway_outbox_oldest_queued_seconds')! > 0, 15_000, 'an age')
  const m = await scrape(stack.url)
  t.equal(m.value('cic_gateway_outbox_queued_documents'), 1)
  t.equal(m.value('cic_gateway_outbox_stored_bytes'), body.length)
  t.equal(m.value('cic_gateway_outbox_capacity_bytes'), 1024 ** 3, 'OUTBOX_MAX_BYTES')
  t.equal(m.value('cic_gateway_outbox_failed_total', { mailbox: 'default', code: 'cic-rejected' }), 0, 'a transient refusal is not a failure')
})

t.test('the delivery routes are in /openapi.json, and live answers match their schemas', async t => {
  const stack = await outboxStack(t)
  const doc = (await get(stack, '/openapi.json', {})).json()
  t.same(Object.keys(doc.paths['/deliveries/{id}']), ['get'])
  t.same(Object.keys(doc.paths['/deliveries']), ['get'])
  t.same(Object.keys(doc.paths['/deliveries/{id}/retry']), ['post'])
  for (const [path, method] of [['/deliveries/{id}', 'get'], ['/deliveries', 'get'], ['/deliveries/{id}/retry', 'post']] as const) {
    t.same(doc.paths[path][method].security, [{ apiKey: [] }], `${method} ${path} needs the key`)
  }
  t.same(Object.keys(doc.paths['/deliveries/{id}/retry'].post.responses).sort(), ['202', '400', '401', '404', '409'])
  t.ok(doc.paths['/documents'].post.responses['202'].headers.location, 'the document routes document their 202 with Location')
  // OpenAPI links: from an answer carrying an id to the operations that take one (clients, schemathesis's stateful phase).
  t.same(doc.paths['/documents'].post.responses['202'].links.getDelivery, { operationId: 'getDelivery', parameters: { id: '$response.body#/id' }, description: doc.paths['/documents'].post.responses['202'].links.getDelivery.description })
  t.same(Object.keys(doc.paths['/deliveries'].get.responses['200'].links).sort(), ['getDelivery', 'retryDelivery'])
  t.equal(doc.paths['/deliveries'].get.responses['200'].links.getDelivery.parameters.id, '$response.body#/items/0/id')
  t.equal(doc.paths['/deliveries/{id}/retry'].post.responses['202'].links.getDelivery.operationId, 'getDelivery')

  stack.sim.inject('upload', { status: 415, times: 1 })
  const id = await accept(stack.outbox, CALLER_1, 'schema.edi', Buffer.from('schema'))
  await until(async () => await stateOf(stack, id) === 'failed', 15_000, 'failed')
  const ajv = new Ajv2020({ strict: false })
  const schemaOf = (path: string, method: string, res: Reply): object => doc.paths[path][method].responses[String(res.status)].content[String(res.headers['content-type']).split(';')[0]!].schema
  const checks: Array<[string, string, Reply]> = [
    ['/deliveries/{id}', 'get', await get(stack, `/deliveries/${id}`)],
    ['/deliveries', 'get', await get(stack, '/deliveries?state=failed&limit=1')],
    ['/deliveries/{id}', 'get', await get(stack, `/deliveries/${UNKNOWN_ID}`)],
    ['/deliveries/{id}/retry', 'post', await send(`${stack.url}/deliveries/${id}/retry`, { headers: AS_1 })],
    ['/deliveries/{id}/retry', 'post', await send(`${stack.url}/deliveries/${id}/retry`, { headers: AS_1 })]
  ]
  t.same(checks.map(([, , r]) => r.status), [200, 200, 404, 202, 409])
  for (const [path, method, res] of checks) {
    t.ok(ajv.validate(schemaOf(path, method, res), res.json()), `${method} ${path} ${res.status} matches its schema ${ajv.errorsText()}`)
  }
})

t.test('without OUTBOX_DIR there is no outbox and no delivery route', async t => {
  const stack = await startStack(t)
  t.equal(stack.gateway.outbox, null)
  const res = await send(`${stack.url}/deliveries/${UNKNOWN_ID}`, { method: 'GET' })
  t.equal(res.status, 404)
  t.equal(res.json().type, 'urn:cic-gateway:problem:not-found')
  const doc = (await send(`${stack.url}/openapi.json`, { method: 'GET' })).json()
  t.notOk(Object.keys(doc.paths).some(p => p.startsWith('/deliveries')), 'not documented either')
  t.notOk((await scrape(stack.url)).types.has('cic_gateway_outbox_oldest_queued_seconds'), 'no outbox metrics')
})
