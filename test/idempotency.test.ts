import t from 'tap'
import { Readable } from 'node:stream'
import { postDocument } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

t.test('a repeat with the same key and body returns the stored 201 without a second upload', async t => {
  const stack = await startStack(t)
  const first = await postDocument(stack.url, 'po-1.edi', 'order one', { 'idempotency-key': 'k-1' })
  t.equal(first.status, 201)
  t.equal(first.headers['idempotent-replayed'], undefined)
  const again = await postDocument(stack.url, 'po-1.edi', 'order one', { 'idempotency-key': 'k-1' })
  t.equal(again.status, 201)
  t.equal(again.text, first.text, 'the same CIC answer')
  t.equal(again.headers['idempotent-replayed'], 'stored', 'marked as a replay')
  t.equal(stack.sim.calls.upload, 1, 'CIC got one upload')
  t.equal(stack.sim.files().length, 1)
})

t.test('the same key with a different body gets 422 and nothing is uploaded', async t => {
  const stack = await startStack(t)
  t.equal((await postDocument(stack.url, 'po-2.edi', 'first body', { 'idempotency-key': 'k-2' })).status, 201)
  const other = await postDocument(stack.url, 'po-2.edi', 'another body', { 'idempotency-key': 'k-2' })
  t.equal(other.status, 422)
  t.equal(other.json().type, 'urn:cic-gateway:problem:idempotency-key-reused')
  t.equal(stack.sim.calls.upload, 1)
})

t.test('a repeat while the first is still in flight gets 409', async t => {
  const stack = await startStack(t)
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { delayMs: 800 })
  const slow = postDocument(stack.url, 'po-3.edi', 'slow', { 'idempotency-key': 'k-3' })
  await new Promise(resolve => setTimeout(resolve, 200))
  const dup = await postDocument(stack.url, 'po-3.edi', 'slow', { 'idempotency-key': 'k-3' })
  t.equal(dup.status, 409)
  t.equal(dup.json().type, 'urn:cic-gateway:problem:idempotency-key-in-use')
  t.equal((await slow).status, 201)
  t.equal(stack.sim.files().filter(f => f.name === 'po-3.edi').length, 1)
})

t.test('a failure known not to have delivered frees the key: the retry uploads', async t => {
  const stack = await startStack(t, { env: { CIC_RETRIES: '0' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  // CIC_RETRIES=0: the 503 reaches the caller.
  stack.sim.inject('upload', { status: 503 })
  const failed = await postDocument(stack.url, 'po-4.edi', 'x', { 'idempotency-key': 'k-4' })
  t.equal(failed.status, 503)
  t.equal(failed.json().delivered, 'no')
  const retry = await postDocument(stack.url, 'po-4.edi', 'x', { 'idempotency-key': 'k-4' })
  t.equal(retry.status, 201)
  t.equal(retry.headers['idempotent-replayed'], undefined, 'a real upload this time')
  t.equal(stack.sim.files().filter(f => f.name === 'po-4.edi').length, 1)
})

t.test('an unknown outcome where CIC did store the file: the retry is settled from the upload folder, no second upload', async t => {
  const stack = await startStack(t)
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { drop: 'after-store' })
  const lost = await postDocument(stack.url, 'po-5.edi', 'stored but unanswered', { 'idempotency-key': 'k-5' })
  t.equal(lost.status, 502)
  t.equal(lost.json().delivered, 'unknown')
  const uploadsBefore = stack.sim.calls.upload
  const retry = await postDocument(stack.url, 'po-5.edi', 'stored but unanswered', { 'idempotency-key': 'k-5' })
  t.equal(retry.status, 201)
  t.equal(retry.headers['idempotent-replayed'], 'reconciled')
  t.equal(retry.json().name, 'po-5.edi')
  t.equal(retry.json().id, stack.sim.files().find(f => f.name === 'po-5.edi')?.id, 'CIC\'s own file resource')
  t.equal(stack.sim.calls.upload, uploadsBefore, 'no second upload')
  const third = await postDocument(stack.url, 'po-5.edi', 'stored but unanswered', { 'idempotency-key': 'k-5' })
  t.equal(third.headers['idempotent-replayed'], 'stored', 'then remembered as delivered')
})

t.test('an unknown outcome where CIC did not store it: the retry uploads once', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '1024' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { drop: 'mid-body' })
  const body = Buffer.alloc(64 * 1024, 7)
  const lost = await postDocument(stack.url, 'po-6.edi', Readable.from([body]), { 'idempotency-key': 'k-6', 'content-length': String(body.length) })
  t.equal(lost.status, 502)
  t.equal(lost.json().delivered, 'unknown')
  const retry = await postDocument(stack.url, 'po-6.edi', body, { 'idempotency-key': 'k-6' })
  t.equal(retry.status, 201)
  t.equal(retry.headers['idempotent-replayed'], undefined)
  const held = stack.sim.files().filter(f => f.name === 'po-6.edi')
  t.equal(held.length, 1)
  t.same(held[0]?.data, body)
})

t.test('an invalid Idempotency-Key is refused', async t => {
  const stack = await startStack(t)
  for (let i = 0; i < 3; i++) {
    const res = await postDocument(stack.url, 'x.edi', 'x', { 'idempotency-key': 'has space' })
    t.equal(res.status, 400)
  }
  t.equal(stack.sim.calls.upload, 0)
  t.equal(stack.gateway.uploads.active, 0, 'the upload slots are released')
})
