import t from 'tap'
import { connect } from 'node:net'
import { startStack } from './helpers/stack.js'

// The server timeouts themselves are tested in server-timeouts.test.ts; here: what the caller reads.
t.test('a request whose headers do not arrive in time gets 408 problem+json, then the connection closes', async t => {
  const stack = await startStack(t, { env: { SERVER_HEADERS_TIMEOUT_SECONDS: '1' } })
  const socket = connect(Number(new URL(stack.url).port), '127.0.0.1')
  await new Promise(resolve => socket.once('connect', resolve))
  socket.write('POST /documents?filename=slow.edi HTTP/1.1\r\nHost: x\r\nX-Slow: ')
  let answer = ''
  socket.on('data', (d: Buffer) => { answer += d.toString() })
  await new Promise(resolve => socket.once('close', resolve))
  const [head = '', body = ''] = answer.split('\r\n\r\n')
  t.match(head, /^HTTP\/1\.1 408 /)
  t.match(head, /content-type: application\/problem\+json/i)
  t.equal(JSON.parse(body).type, 'urn:cic-gateway:problem:request-timeout')
  t.same(stack.sim.calls, { login: 0, folders: 0, children: 0, upload: 0 })
})
