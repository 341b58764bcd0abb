import t from 'tap'
import { postDocument, send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

t.test('CIC 5xx on upload: 502 with CIC\'s status, never CIC\'s body', async t => {
  const stack = await startStack(t)
  stack.sim.inject('upload', { status: 500, body: '{"message":"internal detail SECRET-ECHO"}' })
  const res = await postDocument(stack.url, 'a.edi', 'a')
  t.equal(res.status, 502)
  const p = res.json()
  t.equal(p.type, 'urn:cic-gateway:problem:cic-error')
  t.equal(p.cicStatus, 500)
  t.equal(p.delivered, 'unknown', 'a 500 after the body was sent leaves the outcome unknown')
  t.notMatch(res.text, /SECRET-ECHO/, 'CIC\'s body is not forwarded')
})

t.test('CIC times out on upload: 504', async t => {
  const stack = await startStack(t, { env: { CIC_HEADERS_TIMEOUT_MS: '300' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { delayMs: 2500 })
  const res = await postDocument(stack.url, 'slow.edi', 'a')
  t.equal(res.status, 504)
  t.equal(res.json().type, 'urn:cic-gateway:problem:cic-timeout')
  t.equal(res.json().delivered, 'unknown')
  // The process survived the undici timeout and keeps delivering.
  t.equal((await postDocument(stack.url, 'after.edi', 'b')).status, 201)
})

t.test('CIC drops the connection mid-upload: 502, never 201', async t => {
  const stack = await startStack(t)
  stack.sim.inject('upload', { drop: 'mid-body' })
  const res = await postDocument(stack.url, 'dropped.edi', Buffer.alloc(64 * 1024, 1))
  t.equal(res.status, 502)
  t.equal(res.json().type, 'urn:cic-gateway:problem:cic-connection-lost')
  t.notOk(stack.sim.files().some(f => f.name === 'dropped.edi'))
})

t.test('CIC truncates its 201 answer: 502 with delivered "unknown", never 201', async t => {
  const stack = await startStack(t)
  stack.sim.inject('upload', { truncate: true })
  const res = await postDocument(stack.url, 'trunc.edi', 'a')
  t.equal(res.status, 502)
  t.equal(res.json().delivered, 'unknown')
})

t.test('CIC unreachable: 503, not delivered, safe to resend', async t => {
  const stack = await startStack(t)
  await stack.sim.close()
  const res = await postDocument(stack.url, 'a.edi', 'a')
  t.equal(res.status, 503)
  t.equal(res.json().type, 'urn:cic-gateway:problem:cic-unreachable')
  t.equal(res.json().delivered, 'no')
  t.ok(res.headers['retry-after'])
})

t.test('wrong gateway credentials: 502 login failed, /readyz 503, password never echoed', async t => {
  const stack = await startStack(t, { env: { CIC_PASSWORD: 'Wrong@Pass&+%1' }, secrets: ['Wrong@Pass&+%1'] })
  const res = await postDocument(stack.url, 'a.edi', 'a')
  t.equal(res.status, 502)
  t.equal(res.json().type, 'urn:cic-gateway:problem:cic-login-failed')
  t.equal(res.json().cicStatus, 401)
  t.notMatch(res.text, /Wrong@Pass/)
  const ready = await send(`${stack.url}/readyz`, { method: 'GET' })
  t.equal(ready.status, 503)
  t.match(ready.json().detail, /login/)
  t.equal(stack.sim.calls.upload, 0)
})

t.test('CIC 429 on upload: 503 with CIC\'s Retry-After, not delivered', async t => {
  const stack = await startStack(t)
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { status: 429, headers: { 'retry-after': '7' }, times: 5 })
  const res = await postDocument(stack.url, 'limited.edi', 'a')
  t.equal(res.status, 503)
  t.equal(res.headers['retry-after'], '7')
  t.equal(res.json().delivered, 'no')
})

t.test('CIC 409 for an existing name is passed through as 409, never renamed', async t => {
  const stack = await startStack(t, { sim: { sameNamePolicy: 'reject' } })
  t.equal((await postDocument(stack.url, 'same.edi', '1')).status, 201)
  const res = await postDocument(stack.url, 'same.edi', '2')
  t.equal(res.status, 409)
  t.equal(res.json().type, 'urn:cic-gateway:problem:cic-file-exists')
  t.equal(stack.sim.files().length, 1)
})
