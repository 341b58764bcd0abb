import t from 'tap'
import { postDocument, send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

t.test('past MAX_CONCURRENT_UPLOADS callers get 503 + Retry-After at once, and nothing reaches CIC', async t => {
  const stack = await startStack(t, { env: { MAX_CONCURRENT_UPLOADS: '2' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { delayMs: 700, times: 2 })
  const slow = [postDocument(stack.url, 's1.edi', '1'), postDocument(stack.url, 's2.edi', '2')]
  await new Promise(resolve => setTimeout(resolve, 200))
  const shed = await postDocument(stack.url, 'shed.edi', '3')
  t.equal(shed.status, 503)
  t.equal(shed.json().type, 'urn:cic-gateway:problem:overloaded')
  t.equal(shed.headers['retry-after'], '1')
  t.same((await Promise.all(slow)).map(r => r.status), [201, 201])
  t.notOk(stack.sim.files().some(f => f.name === 'shed.edi'))
  t.equal(stack.gateway.uploads.active, 0, 'slots released')
  t.equal((await postDocument(stack.url, 'after.edi', '4')).status, 201)
})

t.test('under-pressure (heap) sheds uploads with problem+json 503 but never the probes', async t => {
  // A 1-byte heap limit: the gateway is always "under pressure".
  const stack = await startStack(t, { env: { MAX_HEAP_USED_BYTES: '1' } })
  await new Promise(resolve => setTimeout(resolve, 1200)) // under-pressure samples once a second
  const res = await postDocument(stack.url, 'x.edi', 'x')
  t.equal(res.status, 503)
  t.match(res.headers['content-type'], /problem\+json/)
  t.ok(res.headers['retry-after'])
  t.equal((await send(`${stack.url}/livez`, { method: 'GET' })).status, 200)
  t.equal((await send(`${stack.url}/readyz`, { method: 'GET' })).status, 200)
  t.equal(stack.sim.calls.upload, 0)
})
