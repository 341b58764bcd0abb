import t from 'tap'
import { send } from './helpers/http.js'
import { rawRequest } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'

t.test('a known path with another method gets 405 problem+json with Allow', async t => {
  const stack = await startStack(t)
  const cases: Array<[string, 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'OPTIONS', string]> = [
    ['/documents', 'GET', 'POST'],
    ['/documents', 'DELETE', 'POST'],
    ['/mailboxes/default/documents', 'PUT', 'POST'],
    ['/livez', 'POST', 'GET, HEAD'],
    ['/readyz', 'OPTIONS', 'GET, HEAD']
  ]
  for (const [path, method, allow] of cases) {
    const res = await send(`${stack.url}${path}`, { method })
    t.equal(res.status, 405, `${method} ${path}`)
    t.equal(res.headers.allow, allow)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.equal(res.json().type, 'urn:cic-gateway:problem:method-not-allowed')
  }
  // Fastify refuses a body-carrying method without Content-Type before the not-found handler runs: still 405.
  const query = await rawRequest(stack.url, 'QUERY /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.equal(query.status, 405)
  t.match(query.headers, /allow: GET, HEAD/i)
  t.same(stack.sim.calls, { login: 0, folders: 0, children: 0, upload: 0 })
})

t.test('an unknown path is 404 problem+json without the path', async t => {
  const stack = await startStack(t)
  const res = await send(`${stack.url}/admin/<script>alert(1)</script>`, { method: 'GET' })
  t.equal(res.status, 404)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.notMatch(res.text, /script|admin/)
})

t.test('a method HTTP does not know is 501 problem+json (the parser refuses it before any route)', async t => {
  const stack = await startStack(t)
  const res = await rawRequest(stack.url, 'FROB /documents HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal(res.status, 501)
  t.match(res.headers, /content-type: application\/problem\+json/i)
  t.equal(JSON.parse(res.body).type, 'urn:cic-gateway:problem:method-not-implemented')
  const garbage = await rawRequest(stack.url, 'GET /livez HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n')
  t.equal(garbage.status, 400)
  t.equal(JSON.parse(garbage.body).type, 'urn:cic-gateway:problem:malformed-request')
})
