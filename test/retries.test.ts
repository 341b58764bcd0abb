import t from 'tap'
import { Readable } from 'node:stream'
import { postDocument } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

const FAST = { CIC_RETRY_BASE_DELAY_MS: '10', CIC_RETRY_MAX_DELAY_MS: '2000' }

t.test('login is retried on 503, 429 (Retry-After honoured) and a dropped connection', async t => {
  const stack = await startStack(t, { env: FAST })
  stack.sim.inject('login', { status: 503 })
  stack.sim.inject('login', { status: 429, headers: { 'retry-after': '1' } })
  t.equal((await postDocument(stack.url, 'a.edi', 'a')).status, 201)
  t.equal(stack.sim.calls.login, 3)
  const warm = stack.sim.calls.login
  stack.sim.revokeAllTokens()
  stack.sim.inject('login', { drop: 'immediately' })
  t.equal((await postDocument(stack.url, 'b.edi', 'b')).status, 201)
  t.equal(stack.sim.calls.login, warm + 2)
})

t.test('folder lookups are retried on 5xx and truncated answers', async t => {
  const stack = await startStack(t, { env: FAST })
  stack.sim.inject('folders', { status: 500 })
  stack.sim.inject('children', { truncate: true })
  t.equal((await postDocument(stack.url, 'a.edi', 'a')).status, 201)
  t.equal(stack.sim.calls.folders, 2)
  t.equal(stack.sim.calls.children, 2)
})

t.test('a wrong password (401) is not retried', async t => {
  const stack = await startStack(t, { env: { ...FAST, CIC_PASSWORD: 'Not@The&Right1' }, secrets: ['Not@The&Right1'] })
  t.equal((await postDocument(stack.url, 'a.edi', 'a')).status, 502)
  t.equal(stack.sim.calls.login, 1)
})

t.test('a kept body is uploaded again after 503 or 429: CIC certainly did not store it', async t => {
  const stack = await startStack(t, { env: FAST })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { status: 503 })
  stack.sim.inject('upload', { status: 429, headers: { 'retry-after': '0' } })
  const res = await postDocument(stack.url, 'retried.edi', 'payload')
  t.equal(res.status, 201)
  t.equal(stack.sim.calls.upload, 4)
  t.equal(stack.sim.files().filter(f => f.name === 'retried.edi').length, 1)
  t.equal(stack.logs().find(l => l.event === 'document.delivered' && l.filename === 'retried.edi')?.attempts, 3)
})

t.test('an upload is never retried after its outcome became unknown (500, timeout, dropped mid-body)', async t => {
  const stack = await startStack(t, { env: { ...FAST, CIC_HEADERS_TIMEOUT_MS: '300' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  for (const fault of [{ status: 500 }, { delayMs: 2500 }, { drop: 'mid-body' as const }, { drop: 'after-store' as const }]) {
    const before = stack.sim.calls.upload
    stack.sim.inject('upload', fault)
    const res = await postDocument(stack.url, 'unknown.edi', Buffer.alloc(8192, 1))
    t.ok(res.status >= 502 && res.status <= 504, `${JSON.stringify(fault)} -> ${res.status}`)
    t.equal(res.json().delivered, 'unknown')
    t.equal(stack.sim.calls.upload, before + 1, `${JSON.stringify(fault)}: one attempt only`)
  }
})

t.test('a streamed (not kept) body is not retried after 503', async t => {
  const stack = await startStack(t, { env: { ...FAST, MEMORY_BODY_BYTES: '1024' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { status: 503 })
  const body = Buffer.alloc(100 * 1024, 2)
  const res = await postDocument(stack.url, 'streamed.edi', Readable.from([body]), { 'content-length': String(body.length) })
  t.equal(res.status, 503)
  t.equal(res.json().delivered, 'no')
  t.equal(stack.sim.calls.upload, 2)
})

t.test('a Retry-After longer than CIC_RETRY_MAX_DELAY_MS is passed to the caller instead of waited for', async t => {
  const stack = await startStack(t, { env: FAST })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { status: 503, headers: { 'retry-after': '120' } })
  const res = await postDocument(stack.url, 'later.edi', 'x')
  t.equal(res.status, 503)
  t.equal(res.headers['retry-after'], '120')
  t.equal(stack.sim.calls.upload, 2)
})
