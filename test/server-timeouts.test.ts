import t from 'tap'
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { postDocument } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

async function openSocket (url: string): Promise<Socket> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1')
  await new Promise(resolve => socket.once('connect', resolve))
  return socket
}

/** Resolves with what the server sent once it closed the connection; rejects after `ms`. */
async function closedWithin (socket: Socket, ms: number): Promise<string> {
  let received = ''
  socket.on('data', d => { received += d.toString() })
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`connection still open after ${ms} ms`)) }, ms)
    socket.once('close', () => { clearTimeout(timer); resolve(received) })
  })
}

t.test('a caller that never finishes its headers is disconnected (headersTimeout)', async t => {
  const stack = await startStack(t, { env: { SERVER_HEADERS_TIMEOUT_SECONDS: '1' } })
  const socket = await openSocket(stack.url)
  socket.write('POST /documents?filename=x.edi HTTP/1.1\r\nHost: x\r\n')
  const answer = await closedWithin(socket, 10_000)
  t.match(answer, /^HTTP\/1\.1 408|^$/, 'closed, with 408 or silently')
  t.equal(stack.sim.calls.upload, 0)
})

t.test('a caller that goes silent mid-body is disconnected (idle timeout) and nothing is delivered', async t => {
  const stack = await startStack(t, { env: { SERVER_IDLE_TIMEOUT_SECONDS: '1', MEMORY_BODY_BYTES: '1024' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  const socket = await openSocket(stack.url)
  socket.write('POST /documents?filename=stalled.edi HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n')
  socket.write(Buffer.alloc(5000, 1))
  await closedWithin(socket, 10_000)
  await sleep(200)
  t.notOk(stack.sim.files().some(f => f.name === 'stalled.edi'), 'CIC stored nothing')
  t.ok(stack.logs().some(l => l.event === 'document.failed' && l.filename === 'stalled.edi'), 'logged as failed')
  t.equal(stack.gateway.uploads.active, 0)
})

t.test('an idle keep-alive connection is closed after keepAliveTimeout', async t => {
  const stack = await startStack(t, { env: { SERVER_KEEP_ALIVE_TIMEOUT_SECONDS: '1' } })
  const socket = await openSocket(stack.url)
  socket.write('GET /livez HTTP/1.1\r\nHost: x\r\n\r\n')
  const answer = await closedWithin(socket, 10_000)
  t.match(answer, /^HTTP\/1\.1 200/)
  t.match(answer, /Keep-Alive: timeout=1/i)
})

t.test('CIC stalling the body it reads fails the upload with 504 instead of hanging; the process survives', async t => {
  const stack = await startStack(t, { env: { CIC_HEADERS_TIMEOUT_MS: '500', MEMORY_BODY_BYTES: '1024' }, sim: { keepBodies: false } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { stallBody: true, delayMs: 5000 })
  const res = await postDocument(stack.url, 'stalled-by-cic.edi', Buffer.alloc(8 * 1024 * 1024, 1))
  t.equal(res.status, 504)
  t.equal(res.json().delivered, 'unknown')
  t.equal((await postDocument(stack.url, 'after.edi', 'x')).status, 201)
})

t.test('connections past MAX_CONNECTIONS are refused', async t => {
  const stack = await startStack(t, { env: { MAX_CONNECTIONS: '2' } })
  const held = [await openSocket(stack.url), await openSocket(stack.url)]
  t.teardown(() => { for (const s of held) s.destroy() })
  await sleep(100)
  const third = await openSocket(stack.url)
  third.write('GET /livez HTTP/1.1\r\nHost: x\r\n\r\n')
  const answer = await closedWithin(third, 5000)
  t.notMatch(answer, /^HTTP\/1\.1 200/, 'the third connection is closed without being served')
  for (const s of held) s.destroy()
  await sleep(100)
  const res = await postDocument(stack.url, 'after.edi', 'x')
  t.equal(res.status, 201, 'served again once connections are free')
})
