import t from 'tap'
import { postDocument } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

t.test('after repeated CIC failures the circuit opens: uploads get 503 + Retry-After at once; a probe closes it again', async t => {
  const stack = await startStack(t, { env: { CIRCUIT_FAILURE_THRESHOLD: '3', CIRCUIT_HALF_OPEN_AFTER_SECONDS: '1', CIC_RETRIES: '0' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { status: 500, times: 3 })
  for (let i = 0; i < 3; i++) t.equal((await postDocument(stack.url, `f${i}.edi`, 'x')).status, 502)
  const calls = stack.sim.calls.upload
  const open = await postDocument(stack.url, 'while-open.edi', 'x')
  t.equal(open.status, 503)
  t.equal(open.json().type, 'urn:cic-gateway:problem:circuit-open')
  t.equal(open.json().delivered, 'no')
  t.ok(Number(open.headers['retry-after']) >= 1, 'Retry-After set')
  t.equal(stack.sim.calls.upload, calls, 'CIC was not called')
  t.ok(stack.logs().some(l => l.event === 'cic.circuit' && l.state === 'open'), 'the opening is logged')
  await new Promise(resolve => setTimeout(resolve, 1100))
  const probe = await postDocument(stack.url, 'probe.edi', 'x')
  t.equal(probe.status, 201, 'half-open: the probe goes through and succeeds')
  t.equal((await postDocument(stack.url, 'after.edi', 'x')).status, 201, 'closed again')
})

t.test('caller mistakes and CIC refusals (409) do not open the circuit', async t => {
  const stack = await startStack(t, { sim: { sameNamePolicy: 'reject' }, env: { CIRCUIT_FAILURE_THRESHOLD: '2' } })
  t.equal((await postDocument(stack.url, 'dup.edi', '1')).status, 201)
  for (let i = 0; i < 4; i++) t.equal((await postDocument(stack.url, 'dup.edi', '1')).status, 409)
  t.equal((await postDocument(stack.url, 'other.edi', '1')).status, 201)
})
