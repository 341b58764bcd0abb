import t from 'tap'
import { send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

t.test('a Content-Length over MAX_BODY_BYTES gets 413 before anything reaches CIC', async t => {
  const stack = await startStack(t, { env: { MAX_BODY_BYTES: '1000' } })
  const res = await send(`${stack.url}/documents?filename=big.edi`, { body: Buffer.alloc(1001), headers: { 'content-type': 'application/octet-stream' } })
  t.equal(res.status, 413)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.equal(res.json().type, 'urn:cic-gateway:problem:document-too-large')
  t.equal(res.json().delivered, 'no')
  t.equal(stack.sim.calls.login + stack.sim.calls.upload, 0, 'CIC untouched')
  const ok = await send(`${stack.url}/documents?filename=fits.edi`, { body: Buffer.alloc(1000, 1) })
  t.equal(ok.status, 201, 'a body at the limit passes')
})
