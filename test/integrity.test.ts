import t from 'tap'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { postDocument } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

const sha = (b: Buffer | string): string => `sha-256=:${createHash('sha256').update(b).digest('base64')}:`

t.test('every 201 carries the SHA-256 of the bytes received, and the delivery log line has it', async t => {
  const stack = await startStack(t)
  const res = await postDocument(stack.url, 'a.edi', 'abc')
  t.equal(res.headers['repr-digest'], sha('abc'))
  t.equal(stack.logs().find(l => l.event === 'document.delivered')?.sha256, createHash('sha256').update('abc').digest('base64'))
})

t.test('a matching caller digest passes (Repr-Digest or Content-Digest)', async t => {
  const stack = await startStack(t)
  t.equal((await postDocument(stack.url, 'a.edi', 'abc', { 'repr-digest': sha('abc') })).status, 201)
  t.equal((await postDocument(stack.url, 'b.edi', 'abc', { 'content-digest': `sha-512=:AAAA:, ${sha('abc')}` })).status, 201)
})

t.test('a mismatching digest on a kept body: 400 and nothing reaches CIC', async t => {
  const stack = await startStack(t)
  const res = await postDocument(stack.url, 'bad.edi', 'abc', { 'repr-digest': sha('abd') })
  t.equal(res.status, 400)
  t.equal(res.json().type, 'urn:cic-gateway:problem:digest-mismatch')
  t.equal(stack.sim.calls.upload, 0)
})

t.test('a mismatching digest on a streamed body: the upload is aborted before CIC has every byte, 400, nothing stored', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '1024' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  const body = Buffer.alloc(2 * 1024 * 1024, 3)
  const res = await postDocument(stack.url, 'streamed.edi', Readable.from([body.subarray(0, 1e6), body.subarray(1e6)]), { 'content-length': String(body.length), 'repr-digest': sha('something else') })
  t.equal(res.status, 400)
  t.equal(res.json().type, 'urn:cic-gateway:problem:digest-mismatch')
  t.notOk(stack.sim.files().some(f => f.name === 'streamed.edi'), 'CIC stored nothing')
  t.equal(stack.sim.calls.upload, 2, 'the upload had started streaming')
})

t.test('a mismatching digest on a chunked (spooled) body: 400, spool cleaned', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '1024' } })
  const res = await postDocument(stack.url, 'c.edi', Readable.from([Buffer.alloc(5000, 1)]), { 'repr-digest': sha('x') })
  t.equal(res.status, 400)
  t.equal(stack.sim.calls.upload, 0)
  t.same(await stack.spoolFiles(), [])
})

t.test('a malformed digest header is refused', async t => {
  const stack = await startStack(t)
  const res = await postDocument(stack.url, 'a.edi', 'abc', { 'repr-digest': 'sha-256=abc' })
  t.equal(res.status, 400)
  t.equal(res.json().type, 'urn:cic-gateway:problem:digest-invalid')
})
