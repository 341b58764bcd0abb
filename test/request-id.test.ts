import t from 'tap'
import { postDocument, send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

t.test('a caller\'s X-Request-Id reaches the response, every log line of the request and every CIC call it causes', async t => {
  const stack = await startStack(t)
  const id = 'order-4711.try-1:abc'
  // A cold gateway: this request triggers the login and the folder lookup as well as the upload.
  const before = stack.logs().length
  const res = await postDocument(stack.url, 'po_850.edi', 'ISA*00~', { 'x-request-id': id })
  t.equal(res.status, 201)
  t.equal(res.headers['x-request-id'], id, 'echoed in the response')

  const ops = stack.sim.requests.map(r => r.operation)
  t.same(ops, ['login', 'folders', 'children', 'upload'])
  for (const r of stack.sim.requests) t.equal(r.headers['x-request-id'], id, `sent on to CIC with the ${r.operation} call`)

  const lines = stack.logs().slice(before)
  t.ok(lines.length >= 4)
  for (const line of lines) t.equal(line.requestId, id, `log line "${String(line.msg)}" carries the request id`)
  const events = lines.map(l => l.event).filter(e => e !== undefined)
  t.same(events, ['cic.login', 'cic.folder', 'document.delivered'], 'login, folder resolution and delivery lines')
})

t.test('a failed delivery carries the request id in the problem body, the failure line and CIC\'s request', async t => {
  const stack = await startStack(t)
  stack.sim.inject('upload', { status: 500 })
  const res = await postDocument(stack.url, 'a.edi', 'a', { 'x-request-id': 'fail-1' })
  t.equal(res.status, 502)
  t.equal(res.headers['x-request-id'], 'fail-1')
  t.equal(res.json().requestId, 'fail-1', 'in the problem+json body')
  const failed = stack.logs().find(l => l.event === 'document.failed')
  t.equal(failed?.requestId, 'fail-1')
  t.equal(failed?.delivered, 'unknown')
  t.equal(stack.sim.requests.find(r => r.operation === 'upload')?.headers['x-request-id'], 'fail-1')
})

t.test('a refused document (caller mistake) has its request id in the problem and a document.failed line', async t => {
  const stack = await startStack(t)
  const res = await postDocument(stack.url, '../etc/passwd', 'x', { 'x-request-id': 'bad-name-1' })
  t.equal(res.status, 400)
  t.equal(res.json().requestId, 'bad-name-1')
  const line = stack.logs().find(l => l.event === 'document.failed')
  t.equal(line?.requestId, 'bad-name-1')
  t.equal(line?.code, 'filename-invalid')
  t.equal(line?.delivered, 'no')
  t.equal(stack.sim.requests.length, 0, 'CIC was not called')
})

t.test('without X-Request-Id a UUID is generated and used everywhere', async t => {
  const stack = await startStack(t)
  const res = await postDocument(stack.url, 'a.edi', 'a')
  t.equal(res.status, 201)
  const id = res.headers['x-request-id']
  t.match(id, UUID)
  t.equal(stack.sim.requests.find(r => r.operation === 'upload')?.headers['x-request-id'], id)
  t.equal(stack.logs().find(l => l.event === 'document.delivered')?.requestId, id)
})

t.test('an unsafe X-Request-Id is replaced, never logged or forwarded', async t => {
  const stack = await startStack(t)
  for (const bad of ['has space', 'x'.repeat(129), 'semi;colon', '"quoted"']) {
    const res = await postDocument(stack.url, 'a.edi', 'a', { 'x-request-id': bad })
    t.equal(res.status, 201)
    t.match(res.headers['x-request-id'], UUID, `${JSON.stringify(bad.slice(0, 12))} replaced by a UUID`)
    t.notOk(stack.sim.requests.some(r => r.headers['x-request-id'] === bad))
    t.notOk(stack.logs().some(l => l.requestId === bad))
  }
})

t.test('probes and metrics echo the request id too', async t => {
  const stack = await startStack(t)
  for (const path of ['/livez', '/readyz', '/metrics', '/nope']) {
    const res = await send(`${stack.url}${path}`, { method: 'GET', headers: { 'x-request-id': `probe${path.replace('/', '-')}` } })
    t.equal(res.headers['x-request-id'], `probe${path.replace('/', '-')}`, path)
  }
})
