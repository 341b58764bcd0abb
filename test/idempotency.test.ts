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

t.test('concurrent resends after an unknown outcome make one upload: the others get 409 or the settled 201', async t => {
  const stack = await startStack(t, { env: { CIC_RETRIES: '0' }, sim: { sameNamePolicy: 'rename' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { status: 500 })
  const first = await postDocument(stack.url, 'x.edi', 'order 77', { 'idempotency-key': 'k-race' })
  t.equal(first.status, 502)
  t.equal(first.json().delivered, 'unknown')
  // The resend that wins the claim is slow to upload: the others arrive while it runs.
  stack.sim.inject('upload', { delayMs: 400 })
  const resends = await Promise.all([1, 2, 3].map(async () => await postDocument(stack.url, 'x.edi', 'order 77', { 'idempotency-key': 'k-race' })))
  const statuses = resends.map(r => r.status).sort()
  t.equal(statuses.filter(s => s === 201).length >= 1, true, 'one resend delivers')
  for (const r of resends) {
    if (r.status === 409) {
      t.equal(r.json().type, 'urn:cic-gateway:problem:idempotency-key-in-use')
      t.ok(r.headers['retry-after'], 'Retry-After on 409')
    } else {
      t.equal(r.status, 201)
    }
  }
  t.same(stack.sim.files().filter(f => f.name.startsWith('x')).map(f => f.name), ['x.edi'], 'CIC holds one copy (no "x (1).edi")')
  const after = await postDocument(stack.url, 'x.edi', 'order 77', { 'idempotency-key': 'k-race' })
  t.equal(after.status, 201)
  t.ok(['stored', 'reconciled'].includes(String(after.headers['idempotent-replayed'])), 'settled afterwards')
  t.equal(stack.sim.files().filter(f => f.name.startsWith('x')).length, 1)
})

t.test('the same key and body under another filename (or mailbox) is 422 and nothing is sent', async t => {
  const stack = await startStack(t)
  t.equal((await postDocument(stack.url, 'first.edi', 'same body', { 'idempotency-key': 'k-fp' })).status, 201)
  const uploads = stack.sim.calls.upload
  const renamed = await postDocument(stack.url, 'second.edi', 'same body', { 'idempotency-key': 'k-fp' })
  t.equal(renamed.status, 422)
  t.equal(renamed.json().type, 'urn:cic-gateway:problem:idempotency-key-reused')
  t.equal(renamed.headers['idempotent-replayed'], undefined)
  t.equal(stack.sim.calls.upload, uploads, 'nothing sent')
  t.same(stack.sim.files().map(f => f.name).sort(), ['first.edi'])
  // After an unknown outcome too: a resend under another name is not reconciled against the first.
  stack.sim.inject('upload', { drop: 'after-store' })
  t.equal((await postDocument(stack.url, 'third.edi', 'body 3', { 'idempotency-key': 'k-fp-2' })).status, 502)
  const other = await postDocument(stack.url, 'fourth.edi', 'body 3', { 'idempotency-key': 'k-fp-2' })
  t.equal(other.status, 422)
  // The key still remembers the unknown attempt: the right resend reconciles it.
  const right = await postDocument(stack.url, 'third.edi', 'body 3', { 'idempotency-key': 'k-fp-2' })
  t.equal(right.status, 201)
  t.equal(right.headers['idempotent-replayed'], 'reconciled')
})

t.test('a full idempotency store refuses new keys with 503 and keeps every record it holds', async t => {
  const stack = await startStack(t, { env: { IDEMPOTENCY_MAX_KEYS: '3' } })
  for (const k of ['a', 'b', 'c']) t.equal((await postDocument(stack.url, `${k}.edi`, k, { 'idempotency-key': k })).status, 201)
  const refused = await postDocument(stack.url, 'd.edi', 'd', { 'idempotency-key': 'd' })
  t.equal(refused.status, 503)
  t.equal(refused.json().type, 'urn:cic-gateway:problem:idempotency-store-full')
  t.equal(refused.json().delivered, 'no')
  t.ok(refused.headers['retry-after'])
  t.notOk(stack.sim.files().some(f => f.name === 'd.edi'), 'nothing sent for the refused key')
  for (const k of ['a', 'b', 'c']) {
    const again = await postDocument(stack.url, `${k}.edi`, k, { 'idempotency-key': k })
    t.equal(again.headers['idempotent-replayed'], 'stored', `record ${k} was not evicted`)
  }
  t.equal((await postDocument(stack.url, 'e.edi', 'e')).status, 201, 'requests without a key still deliver')
})

t.test('an in-flight claim is never evicted by a flood of new keys', async t => {
  const stack = await startStack(t, { env: { IDEMPOTENCY_MAX_KEYS: '5' }, sim: { sameNamePolicy: 'rename' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { delayMs: 3000 })
  const slow = postDocument(stack.url, 'held.edi', 'held', { 'idempotency-key': 'held' })
  await new Promise(resolve => setTimeout(resolve, 200))
  const flood = await Promise.all(Array.from({ length: 20 }, async (_, i) => await postDocument(stack.url, `f${i}.edi`, `f${i}`, { 'idempotency-key': `f${i}` })))
  t.ok(flood.some(r => r.status === 503), 'past the bound new keys are refused')
  const dup = await postDocument(stack.url, 'held.edi', 'held', { 'idempotency-key': 'held' })
  t.equal(dup.status, 409, 'the in-flight claim still holds')
  t.equal((await slow).status, 201)
  t.equal(stack.sim.files().filter(f => f.name === 'held.edi').length, 1)
})

t.test('the store is bounded in bytes as well as in keys', async t => {
  // 64 KiB holds a handful of records (each reserves 4 KiB while in flight).
  const stack = await startStack(t, { env: { IDEMPOTENCY_MAX_BYTES: '65536' } })
  const answers = []
  for (let i = 0; i < 40; i++) answers.push((await postDocument(stack.url, `b${i}.edi`, `b${i}`, { 'idempotency-key': `b${i}` })).status)
  t.ok(answers.includes(201))
  t.ok(answers.includes(503), 'refused once the bytes are used')
  const firstKept = await postDocument(stack.url, 'b0.edi', 'b0', { 'idempotency-key': 'b0' })
  t.equal(firstKept.headers['idempotent-replayed'], 'stored', 'the oldest record is kept, not evicted')
})
