// Request heads that a proxy in front and the gateway could read differently are refused
// with 400 problem+json and the connection closed: two Authorization headers (which one
// was checked?) and Transfer-Encoding in HTTP/1.0 (RFC 9112 §6.1: faulty framing).
import t, { type Test } from 'tap'
import { connect } from 'node:net'
import { startStack, type Stack } from './helpers/stack.js'

const KEY = 'framing-key-6d1f0a9b3c5e7d2f'

/** Writes `data` (not ended) and collects everything until the gateway closes the connection. */
async function exchange (stack: Stack, data: string): Promise<{ head: string, body: string, endedByGateway: boolean }> {
  const { port } = new URL(stack.url)
  return await new Promise((resolve, reject) => {
    // allowHalfOpen: our side stays open, so a close can only come from the gateway.
    const socket = connect({ port: Number(port), host: '127.0.0.1', allowHalfOpen: true }, () => { socket.write(data) })
    let text = ''
    let endedByGateway = false
    socket.on('data', (d: Buffer) => { text += d.toString('latin1') })
    socket.on('end', () => { endedByGateway = true; socket.end() })
    socket.on('error', err => { if (text === '') reject(err) })
    // Bounded: a gateway that keeps the connection open fails the test instead of hanging it.
    const timer = setTimeout(() => socket.destroy(), 10_000)
    socket.on('close', () => {
      clearTimeout(timer)
      const i = text.indexOf('\r\n\r\n')
      resolve({ head: text.slice(0, i), body: text.slice(i + 4), endedByGateway })
    })
  })
}

function assertRefused (t: Test, what: string, res: { head: string, body: string, endedByGateway: boolean }, type: string): void {
  t.match(res.head, /^HTTP\/1\.1 400 /, `${what}: 400`)
  t.match(res.head, /content-type: application\/problem\+json/i, `${what}: problem+json`)
  t.match(res.head, /connection: close/i, `${what}: Connection: close`)
  t.ok(res.endedByGateway, `${what}: the gateway ended the connection`)
  t.equal(`${res.head}\r\n\r\n${res.body}`.match(/HTTP\/1\.1 \d{3} /g)?.length, 1, `${what}: one answer, nothing after it`)
  const problem = JSON.parse(res.body)
  t.equal(problem.type, type, what)
  t.equal(problem.delivered, 'no', what)
  t.notMatch(res.body, /bogus|framing-key/, `${what}: nothing of the input reflected`)
}

t.test('two Authorization headers (valid first, bogus second) get 400 and the connection closed; nothing reaches CIC', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY } })
  const body = 'ISA*00'
  for (const [what, auth] of [
    ['valid, then bogus', `Authorization: Bearer ${KEY}\r\nAuthorization: Bearer bogus-bogus-bogus\r\n`],
    ['bogus, then valid', `Authorization: Bearer bogus-bogus-bogus\r\nauthorization: Bearer ${KEY}\r\n`],
    ['the same valid key twice', `Authorization: Bearer ${KEY}\r\nAUTHORIZATION: Bearer ${KEY}\r\n`]
  ] as const) {
    const res = await exchange(stack, `POST /documents?filename=two.edi HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    assertRefused(t, what, res, 'urn:cic-gateway:problem:authorization-duplicated')
  }
  t.same(stack.sim.calls, { login: 0, folders: 0, children: 0, upload: 0 }, 'CIC saw nothing')
  t.equal(stack.sim.files().length, 0)
  // One header with the valid key still delivers.
  const one = await exchange(stack, `POST /documents?filename=one.edi HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
  t.match(one.head, /^HTTP\/1\.1 201 /, 'a single Authorization header is fine')
})

t.test('HTTP/1.0 with Transfer-Encoding gets 400 and the connection closed, whatever the body; nothing reaches CIC', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY } })
  const auth = `Authorization: Bearer ${KEY}\r\n`
  const cases = [
    ['chunked, complete', `POST /documents?filename=te.edi HTTP/1.0\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`],
    ['chunked, more to come', `POST /documents?filename=te.edi HTTP/1.0\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`],
    ['chunked with keep-alive', `POST /documents?filename=te.edi HTTP/1.0\r\nHost: x\r\n${auth}Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`]
  ] as const
  for (const [what, request] of cases) {
    assertRefused(t, what, await exchange(stack, request), 'urn:cic-gateway:problem:malformed-request')
  }
  t.same(stack.sim.calls, { login: 0, folders: 0, children: 0, upload: 0 }, 'CIC saw nothing')
  // HTTP/1.0 with a Content-Length is fine.
  const ok = await exchange(stack, `POST /documents?filename=ok.edi HTTP/1.0\r\nHost: x\r\n${auth}Content-Length: 5\r\n\r\nhello`)
  t.match(ok.head, /^HTTP\/1\.1 201 /, 'HTTP/1.0 with Content-Length delivers')
  t.same(stack.sim.files().map(f => f.name), ['ok.edi'])
})
