// An answer given before the request body has arrived (401, 413, 503, ...) must reach a
// client that is still sending it: the gateway closes the connection in stages (RFC 9112
// §9.6) instead of resetting it under the client's feet. Proven with the two kinds of client
// that matter: Node's http client (reads the answer while it sends) and Python's urllib
// (sends the whole body first, then reads).
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { startStack, type Stack } from './helpers/stack.js'

const KEY = 'early-answers-key-5b0c1e9f7a3d'
const WRONG = 'Bearer wrong-key-00000000000000000000'
const BODY_BYTES = 64 * 1024 * 1024
const TRIES = 20
const CHUNK = Buffer.alloc(1024 * 1024, 0x41)

interface Outcome {
  status?: number
  retryAfter?: string | null
  type?: string
  error?: string
}

// Node's http client in a process of its own (as a real caller is): the body streamed from a
// Readable in 1 MiB chunks with pipe(), as from a file. Prints one JSON line per try.
const NODE = `
const http = require('node:http')
const { Readable } = require('node:stream')
const [url, tries, size, headers] = process.argv.slice(1)
const total = Number(size)
const chunk = Buffer.alloc(1024 * 1024, 0x41)
function post () {
  return new Promise(resolve => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': String(total), ...JSON.parse(headers) } })
    let answered = false
    req.on('response', res => {
      answered = true
      let text = ''
      res.setEncoding('utf8')
      res.on('data', d => { text += d })
      res.on('end', () => {
        let type
        try { type = JSON.parse(text).type } catch { type = 'unparsable body' }
        resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'] ?? null, type })
      })
      res.on('error', err => resolve({ error: 'response: ' + (err.code ?? err.message) }))
    })
    // Errors writing the rest of the body after the answer are expected; before it, they are the bug.
    req.on('error', err => { if (!answered) resolve({ error: err.code ?? err.message }) })
    Readable.from((function * () { for (let sent = 0; sent < total; sent += chunk.length) yield chunk })()).pipe(req)
  })
}
;(async () => { for (let i = 0; i < Number(tries); i++) console.log(JSON.stringify(await post())) })()
`

// Python's urllib: the whole body with one sendall(), then the answer. Prints one JSON line per try.
const PYTHON = `
import json, sys, urllib.request, urllib.error
url, tries, size, headers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
body = b'A' * size
for _ in range(tries):
    req = urllib.request.Request(url, data=body, method='POST', headers={'Content-Type': 'application/octet-stream', **headers})
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            print(json.dumps({'status': res.status}), flush=True)
    except urllib.error.HTTPError as e:
        try:
            kind = json.loads(e.read()).get('type')
        except Exception as err:
            kind = 'unreadable body: ' + type(err).__name__
        print(json.dumps({'status': e.code, 'retryAfter': e.headers.get('Retry-After'), 'type': kind}), flush=True)
    except Exception as e:
        print(json.dumps({'error': type(e).__name__ + ': ' + str(e)}), flush=True)
`

async function run (command: string, script: string, url: string, headers: Record<string, string>, tries: number): Promise<Outcome[]> {
  return await new Promise((resolve, reject) => {
    const child = spawn(command, [command === 'python3' ? '-c' : '-e', script, url, String(tries), String(BODY_BYTES), JSON.stringify(headers)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.on('error', reject)
    child.on('close', code => {
      if (code !== 0) return reject(new Error(`${command} exited with ${code}: ${err}`))
      resolve(out.trim().split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Outcome))
    })
  })
}

async function checkBoth (t: Test, stack: Stack, path: string, headers: Record<string, string>, expected: Outcome): Promise<void> {
  const url = `${stack.url}${path}`
  const node = await run(process.execPath, NODE, url, headers, TRIES)
  t.equal(node.length, TRIES, 'node made every try')
  t.same(node.filter(o => !matches(o, expected)), [], `Node http client: ${expected.status} and its problem body in all ${TRIES} tries`)
  const python = await run('python3', PYTHON, url, headers, TRIES)
  t.equal(python.length, TRIES, 'python made every try')
  t.same(python.filter(o => !matches(o, expected)), [], `Python urllib: ${expected.status} and its problem body in all ${TRIES} tries`)
}

function matches (o: Outcome, expected: Outcome): boolean {
  return o.status === expected.status && o.type === expected.type && (expected.retryAfter === undefined || o.retryAfter === expected.retryAfter)
}

/** Headers of a refused upload (wrong key) announcing `length` bytes; resolves once the 401 has been read. */
async function openRefused (stack: Stack, length: number): Promise<{ socket: Socket, answered: Promise<string>, ended: Promise<void> }> {
  const { port } = new URL(stack.url)
  // Half-open: our side stays writable after the gateway's FIN, as a client still sending would.
  const socket = connect({ port: Number(port), host: '127.0.0.1', allowHalfOpen: true })
  await new Promise(resolve => socket.once('connect', resolve))
  socket.on('error', () => {})
  let answer = ''
  const answered = new Promise<string>(resolve => {
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1')
      if (answer.includes('}')) resolve(answer)
    })
  })
  const ended = new Promise<void>(resolve => socket.once('end', resolve))
  socket.write(`POST /documents?filename=x.edi HTTP/1.1\r\nHost: x\r\nAuthorization: ${WRONG}\r\nContent-Length: ${length}\r\n\r\n`)
  const text = await answered
  if (!/^HTTP\/1\.1 401 [^]*connection: close/i.test(text)) throw new Error(`unexpected answer: ${text.slice(0, 80)}`)
  return { socket, answered, ended }
}

/**
 * Waits until the gateway has dropped a connection it already half-closed: our side stays
 * open and writes a byte now and then, which fails (RST) once the gateway's socket is gone.
 */
async function untilDropped (socket: Socket): Promise<void> {
  const closed = new Promise(resolve => socket.once('close', resolve))
  const trickle = setInterval(() => { if (!socket.destroyed) socket.write('x') }, 50)
  await closed
  clearInterval(trickle)
}

t.test('a wrong key posting 64 MiB gets its 401 problem, every time', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY } })
  await checkBoth(t, stack, '/documents?filename=po.edi', { authorization: WRONG }, { status: 401, type: 'urn:cic-gateway:problem:unauthorized' })
  t.equal(stack.sim.calls.upload, 0, 'nothing reached CIC')
})

t.test('64 MiB over MAX_BODY_BYTES gets its 413 problem, every time', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY, MAX_BODY_BYTES: String(1024 * 1024) } })
  await checkBoth(t, stack, '/documents?filename=big.edi', { authorization: `Bearer ${KEY}` }, { status: 413, type: 'urn:cic-gateway:problem:document-too-large' })
  t.equal(stack.sim.calls.upload, 0, 'nothing reached CIC')
})

t.test('64 MiB over the upload cap gets its 503 problem with Retry-After, every time', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY, MAX_CONCURRENT_UPLOADS: '1' } })
  // One upload held open by a slow CIC takes the only slot.
  stack.sim.inject('upload', { delayMs: 60_000, times: 1 })
  const hold = new AbortController()
  const held = request(`${stack.url}/documents?filename=held.edi`, { method: 'POST', body: 'held', headers: { authorization: `Bearer ${KEY}` }, signal: hold.signal }).catch(() => undefined)
  while (stack.gateway.uploads.active < 1) await sleep(20)
  await checkBoth(t, stack, '/documents?filename=shed.edi', { authorization: `Bearer ${KEY}` }, { status: 503, type: 'urn:cic-gateway:problem:overloaded', retryAfter: '1' })
  hold.abort()
  await held
  t.notOk(stack.sim.files().some(f => f.name === 'shed.edi'), 'nothing shed reached CIC')
})

t.test('the close is bounded in bytes: the gateway discards up to SERVER_LINGER_BYTES after its answer, then hangs up', async t => {
  const budget = 4 * 1024 * 1024
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY, SERVER_LINGER_BYTES: String(budget) } })
  const { socket, answered } = await openRefused(stack, 1024 * 1024 * 1024)
  await answered
  // Keep sending (far more than the budget) until the gateway hangs up.
  const cap = 512 * 1024 * 1024
  let sent = 0
  while (!socket.destroyed && sent < cap) {
    if (!socket.write(CHUNK)) await new Promise(resolve => { socket.once('drain', resolve); socket.once('close', resolve) })
    sent += CHUNK.length
  }
  t.ok(sent >= budget, `the gateway kept reading after its answer (${sent} bytes taken)`)
  t.ok(sent < cap, 'then it hung up')
})

t.test('the close is bounded in time: a caller that neither finishes nor closes is dropped after SERVER_LINGER_SECONDS', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY, SERVER_LINGER_SECONDS: '0.5' } })
  const { socket, answered, ended } = await openRefused(stack, 1_000_000)
  await answered
  await ended
  t.pass('the gateway half-closed after its answer (FIN)')
  // Our side stays open and sends a byte now and then: only the time bound can end this.
  await untilDropped(socket)
  t.pass('the gateway dropped the connection')
})

t.test('after an early answer nothing more on that connection is processed: a request pipelined behind the refused body is not run', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY, SERVER_LINGER_SECONDS: '1' } })
  const length = 256 * 1024
  const { socket, answered } = await openRefused(stack, length)
  const answer = await answered
  socket.write(Buffer.alloc(length, 0x42))
  socket.write(`POST /documents?filename=smuggled.edi HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Length: 5\r\n\r\nhello`)
  // Our side stays open: the connection ends only when the gateway's time bound drops it.
  await untilDropped(socket)
  t.equal(answer.match(/HTTP\/1\.1 /g)?.length, 1, 'one answer only')
  t.equal(stack.sim.calls.upload, 0, 'the pipelined request never ran')
  t.notOk(stack.logs().some(l => l.filename === 'smuggled.edi'), 'not even as a refusal')
})
