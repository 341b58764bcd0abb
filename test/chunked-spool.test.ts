import t from 'tap'
import { Readable } from 'node:stream'
import { postDocument } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

function chunked (buf: Buffer, size = 16 * 1024): Readable {
  const parts: Buffer[] = []
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size))
  return Readable.from(parts)
}

t.test('a chunked request is spooled and sent with Content-Length (the simulator refuses chunked uploads)', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '65536' } })
  const body = Buffer.alloc(3 * 1024 * 1024)
  for (let i = 0; i < body.length; i++) body[i] = i % 251
  const res = await postDocument(stack.url, 'chunked.edi', chunked(body))
  t.equal(res.status, 201)
  const upload = stack.sim.requests.find(r => r.operation === 'upload')
  t.equal(upload?.headers['content-length'], String(body.length))
  t.equal(upload?.headers['transfer-encoding'], undefined)
  t.same(stack.sim.files()[0]?.data, body, 'intact')
  t.same(await stack.spoolFiles(), [], 'the spool file is deleted after delivery')
  t.equal(stack.gateway.spool.bytesInUse, 0)
  t.ok(stack.logs().some(l => l.event === 'document.delivered' && l.bodyMode === 'spool-file'), 'went through a spool file')
})

t.test('a small chunked request stays in memory', async t => {
  const stack = await startStack(t)
  const res = await postDocument(stack.url, 'small.edi', chunked(Buffer.from('tiny chunked body'), 4))
  t.equal(res.status, 201)
  t.ok(stack.logs().some(l => l.event === 'document.delivered' && l.bodyMode === 'spool-memory'))
})

t.test('the spool file is deleted when the delivery fails', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '1024' } })
  stack.sim.inject('upload', { status: 500 })
  const res = await postDocument(stack.url, 'fails.edi', chunked(Buffer.alloc(100 * 1024, 1)))
  t.equal(res.status, 502)
  t.same(await stack.spoolFiles(), [])
  t.equal(stack.gateway.spool.bytesInUse, 0)
})

t.test('a chunked body over MAX_BODY_BYTES gets 413, nothing reaches CIC and the spool is cleaned', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '1024', MAX_BODY_BYTES: '65536' } })
  const res = await postDocument(stack.url, 'huge.edi', chunked(Buffer.alloc(200 * 1024, 2))).catch((err: Error) => err)
  if (res instanceof Error) {
    // The gateway may close the connection while the client still sends: that is a refusal too.
    t.pass(`connection closed: ${res.message}`)
  } else {
    t.equal(res.status, 413)
    t.equal(res.json().type, 'urn:cic-gateway:problem:document-too-large')
  }
  t.equal(stack.sim.calls.upload, 0)
  t.same(await stack.spoolFiles(), [])
})
