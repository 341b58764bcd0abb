import t from 'tap'
import { multipart, send } from './helpers/http.js'
import { rawRequest } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'

// Whatever a caller sends, no answer (status line, headers, body) carries it back: a problem
// body is built from fixed text and the route pattern only.
const MARK = 'zq7MARK'
const html = `<img src=x onerror=alert('${MARK}')>`

t.test('nothing from the input is reflected, on any refusal path', async t => {
  const key = 'reflect-key-0123456789abcdef'
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: key } })
  const auth = { authorization: `Bearer ${key}` }
  const answers = [
    await send(`${stack.url}/documents?filename=${encodeURIComponent(`${html}\r\n`)}`, { body: 'x', headers: auth }),
    await send(`${stack.url}/documents?filename=${encodeURIComponent(`../${MARK}`)}`, { body: 'x', headers: auth }),
    await send(`${stack.url}/documents`, { body: 'x', headers: { ...auth, 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(`${MARK}\n.edi`)}` } }),
    await send(`${stack.url}/documents`, { body: 'x', headers: { ...auth, 'content-disposition': `${MARK}; ;; filename="` } }),
    await send(`${stack.url}/documents?filename=a.edi&filename=${MARK}`, { body: 'x', headers: auth }),
    await send(`${stack.url}/mailboxes/${encodeURIComponent(html)}/documents?filename=a.edi`, { body: 'x', headers: auth }),
    await send(`${stack.url}/mailboxes/${MARK}/documents?filename=a.edi`, { body: 'x', headers: auth }),
    await send(`${stack.url}/documents?filename=a.edi`, { body: 'x', headers: { authorization: `Bearer ${MARK}${MARK}${MARK}` } }),
    await send(`${stack.url}/documents?filename=a.edi`, { body: 'x', headers: { ...auth, 'content-type': `multipart/form-data; boundary=${MARK}` } }),
    await send(`${stack.url}/${MARK}`, { method: 'GET' }),
    await send(`${stack.url}/livez?${MARK}=${MARK}`, { method: 'POST', body: 'x', headers: { 'content-type': `text/${MARK}` } }),
    await send(`${stack.url}/${MARK}`, { method: 'POST', body: 'x', headers: { 'content-type': `application/${MARK}` } })
  ]
  const form = multipart([{ name: 'file', value: 'x', filename: `${MARK}/../${html}` }])
  answers.push(await send(`${stack.url}/documents`, { body: form.body, headers: { ...auth, ...form.headers } }))

  for (const [i, res] of answers.entries()) {
    t.ok(res.status >= 400 && res.status < 500, `#${i} refused (${res.status})`)
    t.match(res.headers['content-type'], /^application\/problem\+json/, `#${i} problem+json`)
    t.notMatch(res.text, MARK, `#${i} body does not reflect the input`)
    t.notMatch(JSON.stringify(res.headers), MARK, `#${i} headers do not reflect the input`)
  }
  const raw = await rawRequest(stack.url, `POST /documents?filename=a.edi HTTP/1.1\r\nHost: x\r\nContent-Length: ${MARK}\r\n\r\n`)
  t.equal(raw.status, 400)
  t.notMatch(raw.headers + raw.body, MARK)
  t.equal(stack.sim.calls.upload, 0)

  // A request id that is not a plain token is replaced, not echoed.
  const traced = await send(`${stack.url}/documents?filename=a.edi`, { body: 'x', headers: { ...auth, 'x-request-id': html } })
  t.equal(traced.status, 201)
  t.notMatch(JSON.stringify(traced.headers), MARK)
})
