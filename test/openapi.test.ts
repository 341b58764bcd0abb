import t from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { postDocument, send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

const KEY = 'openapi-key-0123456789abcdef'

t.test('/openapi.json is an OpenAPI 3.1 document generated from the routes, open without a key', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY } })
  const res = await send(`${stack.url}/openapi.json`, { method: 'GET' })
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  const doc = res.json()
  t.equal(doc.openapi, '3.1.0')
  t.same(Object.keys(doc.paths).sort(), ['/documents', '/livez', '/mailboxes/{name}/documents', '/metrics', '/openapi.json', '/readyz'])
  t.same(doc.components.securitySchemes.apiKey, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.apiKey.description })
  for (const path of ['/documents', '/mailboxes/{name}/documents']) {
    const op = doc.paths[path].post
    t.same(op.security, [{ apiKey: [] }], `${path} needs the key`)
    t.same(Object.keys(op.requestBody.content).sort(), ['application/octet-stream', 'multipart/form-data'])
    t.same(Object.keys(op.responses).sort(), ['201', '202', '400', '401', '403', '404', '409', '413', '415', '422', '500', '502', '503', '504'])
    t.ok(op.responses['401'].content['application/problem+json'].schema, 'problems are documented as problem+json')
  }
  for (const [path, item] of Object.entries(doc.paths) as Array<[string, Record<string, { responses: object }>]>) {
    for (const [method, op] of Object.entries(item)) t.ok(Object.keys(op.responses).length > 0, `${method} ${path} documents its responses`)
  }
  t.notOk(doc.paths['/livez'].get.security, 'probes need no key')
})

t.test('live answers match the documented schemas (201, 401, 403-less 404, 400, readiness)', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY } })
  const doc = (await send(`${stack.url}/openapi.json`, { method: 'GET' })).json()
  const ajv = new Ajv2020({ strict: false })
  const schemaOf = (path: string, method: string, status: number, type: string): object => doc.paths[path][method].responses[String(status)].content[type].schema
  const auth = { authorization: `Bearer ${KEY}` }
  const checks: Array<[string, string, Awaited<ReturnType<typeof send>>]> = [
    ['/documents', 'post', await postDocument(stack.url, 'a.edi', 'x', auth)],
    ['/documents', 'post', await postDocument(stack.url, 'a.edi', 'x')],
    ['/documents', 'post', await postDocument(stack.url, '..', 'x', auth)],
    ['/mailboxes/{name}/documents', 'post', await send(`${stack.url}/mailboxes/nope/documents?filename=a.edi`, { body: 'x', headers: auth })],
    ['/livez', 'get', await send(`${stack.url}/livez`, { method: 'GET' })],
    ['/readyz', 'get', await send(`${stack.url}/readyz`, { method: 'GET' })]
  ]
  t.same(checks.map(([, , r]) => r.status), [201, 401, 400, 404, 200, 200])
  for (const [path, method, res] of checks) {
    const type = String(res.headers['content-type']).split(';')[0]!
    const valid = ajv.validate(schemaOf(path, method, res.status, type), res.json())
    t.ok(valid, `${method} ${path} ${res.status} matches its schema ${ajv.errorsText()}`)
  }
})
