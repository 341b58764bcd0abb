import t from 'tap'
import { send, type Reply } from './helpers/http.js'
import { rawRequest } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'

// Every error Fastify itself raises for a request (FST_ERR_*), including the router's own
// (bad percent-encoding, an over-long path parameter), answers problem+json built from fixed
// text: nothing of the path, query, headers or body comes back.
const MARK = 'zq7FWMARK'

t.test('every framework error a request can trigger is problem+json and reflects nothing', async t => {
  const key = 'framework-key-0123456789abcdef'
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: key } })
  const auth = { authorization: `Bearer ${key}` }
  const triggers: Array<{ name: string, status: number, type?: string, send: () => Promise<Reply> }> = [
    // FST_ERR_MAX_PARAM_LENGTH: the router refuses a path parameter over 100 characters.
    { name: 'FST_ERR_MAX_PARAM_LENGTH', status: 414, type: 'uri-too-long', send: async () => await send(`${stack.url}/mailboxes/${MARK.repeat(23)}/documents?filename=a.edi`, { body: 'x', headers: auth }) },
    { name: 'FST_ERR_MAX_PARAM_LENGTH (no key)', status: 414, type: 'uri-too-long', send: async () => await send(`${stack.url}/mailboxes/${MARK.repeat(23)}/documents`, { body: MARK }) },
    // FST_ERR_BAD_URL: a path that is not valid percent-encoding.
    { name: 'FST_ERR_BAD_URL (parameter)', status: 400, type: 'bad-url', send: async () => await send(`${stack.url}/mailboxes/%zz${MARK}/documents?filename=a.edi`, { body: 'x', headers: auth }) },
    { name: 'FST_ERR_BAD_URL (truncated UTF-8)', status: 400, type: 'bad-url', send: async () => await send(`${stack.url}/mailboxes/${MARK}%E0%A4%A/documents`, { body: 'x', headers: auth }) },
    { name: 'FST_ERR_BAD_URL (static path)', status: 400, type: 'bad-url', send: async () => await send(`${stack.url}/${MARK}%C0`, { method: 'GET' }) },
    // FST_ERR_VALIDATION: the mailbox name pattern, and a filename given twice.
    { name: 'FST_ERR_VALIDATION (params)', status: 400, send: async () => await send(`${stack.url}/mailboxes/${MARK}%20x/documents?filename=a.edi`, { body: 'x', headers: auth }) },
    { name: 'FST_ERR_VALIDATION (querystring)', status: 400, send: async () => await send(`${stack.url}/documents?filename=a.edi&filename=${MARK}`, { body: 'x', headers: auth }) },
    // FST_ERR_CTP_INVALID_MEDIA_TYPE: a Content-Type that is not a media type.
    { name: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', status: 415, type: 'unsupported-media-type', send: async () => await send(`${stack.url}/documents?filename=a.edi`, { body: 'x', headers: { ...auth, 'content-type': `${MARK}` } }) },
    // The root scope's JSON parser on an unmatched path: FST_ERR_CTP_INVALID_JSON_BODY, _EMPTY_JSON_BODY, _BODY_TOO_LARGE.
    { name: 'FST_ERR_CTP_INVALID_JSON_BODY', status: 404, type: 'not-found', send: async () => await send(`${stack.url}/${MARK}`, { body: `{"${MARK}":`, headers: { 'content-type': 'application/json' } }) },
    { name: 'FST_ERR_CTP_EMPTY_JSON_BODY', status: 404, type: 'not-found', send: async () => await send(`${stack.url}/${MARK}`, { body: '', headers: { 'content-type': 'application/json' } }) },
    { name: 'FST_ERR_CTP_BODY_TOO_LARGE', status: 404, type: 'not-found', send: async () => await send(`${stack.url}/${MARK}`, { body: `"${MARK.repeat(130_000)}"`, headers: { 'content-type': 'application/json' } }) },
    { name: 'FST_ERR_CTP_INVALID_MEDIA_TYPE (unmatched path)', status: 404, type: 'not-found', send: async () => await send(`${stack.url}/${MARK}`, { body: 'x', headers: { 'content-type': `application/${MARK}` } }) },
    // FST_ERR_ROUTE_MISSING_CONTENT_TYPE: QUERY without a Content-Type.
    { name: 'FST_ERR_ROUTE_MISSING_CONTENT_TYPE', status: 404, type: 'not-found', send: async () => await send(`${stack.url}/${MARK}`, { method: 'QUERY' as 'POST', body: MARK }) },
    // FST_ERR_NOT_FOUND: no route.
    { name: 'FST_ERR_NOT_FOUND', status: 404, type: 'not-found', send: async () => await send(`${stack.url}/${MARK}?${MARK}=1`, { method: 'GET' }) }
  ]

  for (const trigger of triggers) {
    const res = await trigger.send()
    t.equal(res.status, trigger.status, `${trigger.name}: status`)
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${trigger.name}: problem+json`)
    const body = res.json()
    t.equal(body.status, trigger.status, `${trigger.name}: problem status`)
    if (trigger.type !== undefined) t.equal(body.type, `urn:cic-gateway:problem:${trigger.type}`, `${trigger.name}: problem type`)
    t.type(body.requestId, 'string', `${trigger.name}: request id`)
    t.equal(res.headers['x-request-id'], body.requestId, `${trigger.name}: request id header`)
    t.notMatch(res.text, MARK, `${trigger.name}: body reflects nothing`)
    t.notMatch(res.text, /FST_ERR/, `${trigger.name}: no Fastify code`)
    t.notMatch(JSON.stringify(res.headers), MARK, `${trigger.name}: headers reflect nothing`)
  }

  // The same through a raw socket, for percent-encodings a client library might normalise.
  for (const path of [`/mailboxes/%${MARK}/documents`, `/mailboxes/${MARK}%/documents`, `/${MARK}%ff%fe`]) {
    const raw = await rawRequest(stack.url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    t.equal(raw.status, 400, `${path}: 400`)
    t.match(raw.headers, /content-type: application\/problem\+json/i, `${path}: problem+json`)
    t.notMatch(raw.headers + raw.body, MARK, `${path}: reflects nothing`)
  }
  t.equal(stack.sim.calls.login, 0, 'nothing reached CIC')
  t.equal(stack.sim.calls.upload, 0)
})
