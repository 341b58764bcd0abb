import t from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'
import { DEMO_PASSWORD } from '../src/simulator/index.js'

t.test('/livez answers 200 without touching CIC', async t => {
  const stack = await startStack(t)
  const res = await send(`${stack.url}/livez`, { method: 'GET' })
  t.equal(res.status, 200)
  t.equal(stack.sim.calls.login, 0)
})

t.test('/readyz logs in, resolves the folder, and caches the result', async t => {
  const stack = await startStack(t)
  for (let i = 0; i < 5; i++) {
    const res = await send(`${stack.url}/readyz`, { method: 'GET' })
    t.equal(res.status, 200)
  }
  t.equal(stack.sim.calls.login, 1)
  t.equal(stack.sim.calls.folders, 1)
})

t.test('/livez stays 200 while CIC is down; /readyz turns 503 with a reason', async t => {
  const stack = await startStack(t)
  await stack.sim.close()
  t.equal((await send(`${stack.url}/livez`, { method: 'GET' })).status, 200)
  const ready = await send(`${stack.url}/readyz`, { method: 'GET' })
  t.equal(ready.status, 503)
  t.match(ready.headers['content-type'], /problem\+json/)
  t.match(ready.json().detail, /unreachable/)
  t.same(ready.json().mailboxes, { default: { ready: false, reason: 'cic-unreachable' } })
})

// /readyz needs no key: it says why a mailbox is not ready with a stable code, never with
// CIC's text (which may name accounts and people); the text goes to the log, scrubbed.
t.test('/readyz gives a reason code, never CIC\'s text; the detail is logged once per failed check, scrubbed', async t => {
  const stack = await startStack(t)
  const revealing = `account alpha_user locked by admin bob@example.com (password ${DEMO_PASSWORD} rejected)`
  stack.sim.inject('login', { status: 401, body: JSON.stringify({ message: revealing }), times: 3 })
  const first = await send(`${stack.url}/readyz`, { method: 'GET' })
  const again = await send(`${stack.url}/readyz`, { method: 'GET' })
  for (const res of [first, again]) {
    t.equal(res.status, 503)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.same(res.json().mailboxes, { default: { ready: false, reason: 'cic-login-failed' } })
    t.equal(res.json().type, 'urn:cic-gateway:problem:not-ready')
    for (const word of ['alpha_user', 'bob@example.com', 'locked', 'CIC answered', DEMO_PASSWORD, 'redacted']) {
      t.notOk(res.text.includes(word), `the answer does not carry "${word}"`)
    }
  }
  t.equal(stack.sim.calls.login, 1, 'the second probe used the cached result')
  const lines = stack.logs().filter(l => l.event === 'readiness')
  t.equal(lines.length, 1, 'one warn line for the one failed check')
  t.equal(lines[0]?.level, 40)
  t.equal(lines[0]?.mailbox, 'default')
  t.equal(lines[0]?.reason, 'cic-login-failed')
  const logged = JSON.stringify(lines[0])
  t.match(logged, /locked by admin bob@example\.com \(password \[redacted\] rejected\)/, 'the log keeps CIC\'s text, without the password')
  t.notOk(logged.includes(DEMO_PASSWORD))
})

t.test('/readyz: a folder lookup CIC refuses is cic-folder-lookup-failed, and the 503 matches its documented schema', async t => {
  const stack = await startStack(t)
  stack.sim.inject('folders', { status: 403, body: '{"message":"user demo may not list folders of tenant acme-internal"}' })
  const res = await send(`${stack.url}/readyz`, { method: 'GET' })
  t.equal(res.status, 503)
  t.same(res.json().mailboxes, { default: { ready: false, reason: 'cic-folder-lookup-failed' } })
  t.notMatch(res.text, /acme-internal|tenant|CIC answered/)
  t.match(JSON.stringify(stack.logs().find(l => l.event === 'readiness')), /acme-internal/)

  const doc = (await send(`${stack.url}/openapi.json`, { method: 'GET' })).json()
  const schema = doc.paths['/readyz'].get.responses['503'].content['application/problem+json'].schema
  const reason = schema.properties.mailboxes.additionalProperties.properties.reason
  t.ok(reason.enum.includes('cic-login-failed') && reason.enum.includes('cic-unreachable') && reason.enum.includes('cic-folder-lookup-failed'), 'the reason codes are documented')
  const ajv = new Ajv2020({ strict: false })
  t.ok(ajv.validate(schema, res.json()), `the 503 matches its schema ${ajv.errorsText()}`)
  t.notOk(ajv.validate(schema, { ...res.json(), mailboxes: { default: { ready: false, reason: 'CIC answered 403 to folders' } } }), 'free text is not a documented reason')
})

t.test('/readyz is 503 as soon as shutdown starts', async t => {
  const stack = await startStack(t)
  stack.gateway.lifecycle.beginShutdown()
  const res = await send(`${stack.url}/readyz`, { method: 'GET' })
  t.equal(res.status, 503)
  t.equal(res.json().type, 'urn:cic-gateway:problem:shutting-down')
})
