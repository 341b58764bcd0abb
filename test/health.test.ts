import t from 'tap'
import { send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

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
})

t.test('/readyz is 503 as soon as shutdown starts', async t => {
  const stack = await startStack(t)
  stack.gateway.lifecycle.shuttingDown = true
  const res = await send(`${stack.url}/readyz`, { method: 'GET' })
  t.equal(res.status, 503)
  t.equal(res.json().type, 'urn:cic-gateway:problem:shutting-down')
})
