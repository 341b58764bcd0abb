import t from 'tap'
import { rawRequest } from './helpers/raw.js'
import { startStack } from './helpers/stack.js'

t.test('request headers over MAX_HEADER_BYTES get 431 problem+json and nothing reaches CIC', async t => {
  const stack = await startStack(t, { env: { MAX_HEADER_BYTES: '4096' } })
  const big = 'x'.repeat(5000)
  const res = await rawRequest(stack.url, `POST /documents?filename=a.edi HTTP/1.1\r\nHost: x\r\nX-Padding: ${big}\r\nContent-Length: 1\r\n\r\n`, 'a')
  t.equal(res.status, 431)
  t.match(res.headers, /content-type: application\/problem\+json/i)
  const problem = JSON.parse(res.body)
  t.equal(problem.type, 'urn:cic-gateway:problem:headers-too-large')
  t.notMatch(res.body, 'xxxx', 'nothing of the input is reflected')
  t.same(stack.sim.calls, { login: 0, folders: 0, children: 0, upload: 0 })

  const fits = await rawRequest(stack.url, `POST /documents?filename=a.edi HTTP/1.1\r\nHost: x\r\nX-Padding: ${'x'.repeat(3000)}\r\nContent-Length: 1\r\nConnection: close\r\n\r\n`, 'a')
  t.equal(fits.status, 201, 'a head under the limit is fine')
})

t.test('the default limit is 16 KiB', async t => {
  const stack = await startStack(t)
  t.equal(stack.config.maxHeaderBytes, 16384)
  const res = await rawRequest(stack.url, `GET /livez HTTP/1.1\r\nHost: x\r\nX-Padding: ${'y'.repeat(17000)}\r\n\r\n`)
  t.equal(res.status, 431)
})
