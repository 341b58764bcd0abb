// `Expect: 100-continue`: the gateway invites the body only once it will take it. Every
// refusal (key, mailbox, size, load) is the first and only thing the caller reads.
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { startStack, type Stack } from './helpers/stack.js'

const KEY = 'expect-continue-key-3e7a91c0d2b4'
const ERP_KEY = 'erp-continue-key-8c2d4f6a1b3e'
const sha = (s: string): string => createHash('sha256').update(s).digest('hex')

/** A raw connection that collects what the gateway sends. */
class Raw {
  text = ''
  closed = false
  private readonly socket: Socket
  private waiters: Array<() => void> = []

  private constructor (socket: Socket) {
    this.socket = socket
    socket.on('data', (d: Buffer) => { this.text += d.toString('latin1'); this.wake() })
    socket.on('error', () => {})
    socket.on('close', () => { this.closed = true; this.wake() })
  }

  static async open (stack: Stack): Promise<Raw> {
    const { port } = new URL(stack.url)
    const socket = connect(Number(port), '127.0.0.1')
    await new Promise(resolve => socket.once('connect', resolve))
    return new Raw(socket)
  }

  write (data: string | Buffer): void { this.socket.write(data) }
  end (): void { this.socket.end() }

  /** Waits until the first `n` heads (status line and headers) have arrived, or the connection closed. */
  async heads (n: number): Promise<string[]> {
    for (;;) {
      const parts = this.text.split('\r\n\r\n')
      if (parts.length > n || this.closed) return parts.slice(0, n)
      await new Promise<void>(resolve => this.waiters.push(resolve))
    }
  }

  async untilClosed (): Promise<void> {
    while (!this.closed) await new Promise<void>(resolve => this.waiters.push(resolve))
  }

  private wake (): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }
}

function head (path: string, headers: Record<string, string>): string {
  const lines = Object.entries({ host: 'gateway', expect: '100-continue', 'content-type': 'application/octet-stream', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('')
  return `POST ${path} HTTP/1.1\r\n${lines}\r\n`
}

/** Sends only the head, as a client waiting for 100 does, and returns the first answer it reads. */
async function firstAnswer (stack: Stack, path: string, headers: Record<string, string>): Promise<{ raw: Raw, first: string }> {
  const raw = await Raw.open(stack)
  raw.write(head(path, headers))
  const [first = ''] = await raw.heads(1)
  return { raw, first }
}

async function refusedBefore100 (t: Test, stack: Stack, what: string, path: string, headers: Record<string, string>, status: number, type: string): Promise<void> {
  const { raw, first } = await firstAnswer(stack, path, { 'content-length': '1048576', ...headers })
  t.match(first, new RegExp(`^HTTP/1\\.1 ${status} `), `${what}: the first thing read is the ${status}`)
  t.notMatch(raw.text, /HTTP\/1\.1 100/, `${what}: no 100 Continue`)
  t.match(first, /connection: close/i, `${what}: the connection closes (the body never came)`)
  // The problem body arrives in full (Content-Length bytes).
  const length = Number(/content-length: (\d+)/i.exec(first)?.[1])
  const body = (): string => raw.text.slice(first.length + 4)
  while (Buffer.byteLength(body(), 'latin1') < length && !raw.closed) await sleep(10)
  t.equal(JSON.parse(body()).type, type, `${what}: problem+json ${type}`)
  raw.end()
}

t.test('a refused request never gets 100 Continue: wrong key, no key, over MAX_BODY_BYTES, unknown route', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY, MAX_BODY_BYTES: '65536' } })
  await refusedBefore100(t, stack, 'wrong key', '/documents?filename=a.edi', { authorization: 'Bearer wrong-key-000000000000000' }, 401, 'urn:cic-gateway:problem:unauthorized')
  await refusedBefore100(t, stack, 'no key', '/documents?filename=a.edi', {}, 401, 'urn:cic-gateway:problem:unauthorized')
  await refusedBefore100(t, stack, 'over MAX_BODY_BYTES', '/documents?filename=a.edi', { authorization: `Bearer ${KEY}` }, 413, 'urn:cic-gateway:problem:document-too-large')
  await refusedBefore100(t, stack, 'unknown mailbox', '/mailboxes/nope/documents?filename=a.edi', { authorization: `Bearer ${KEY}` }, 404, 'urn:cic-gateway:problem:mailbox-not-found')
  t.same(stack.sim.calls, { login: 0, folders: 0, children: 0, upload: 0 }, 'CIC saw nothing')
})

t.test('a caller limited to some mailboxes gets 403, not 100, for another', async t => {
  const stack = await startStack(t, {
    sim: { accounts: [{ username: 'alpha_app', password: 'Alpha@Passw0rd&+%' }, { username: 'beta_app', password: 'Beta@Passw0rd&+%1' }] },
    secrets: [ERP_KEY],
    configFile: url => `
defaultMailbox: beta
mailboxes:
  alpha: { baseUrl: ${url}, username: alpha_app, password: "Alpha@Passw0rd&+%" }
  beta:  { baseUrl: ${url}, username: beta_app, password: "Beta@Passw0rd&+%1" }
callers:
  erp: { keySha256: "${sha(ERP_KEY)}", mailboxes: [alpha] }
`
  })
  const erp = { authorization: `Bearer ${ERP_KEY}` }
  await refusedBefore100(t, stack, 'named mailbox not allowed', '/mailboxes/beta/documents?filename=a.edi', erp, 403, 'urn:cic-gateway:problem:mailbox-forbidden')
  await refusedBefore100(t, stack, 'default mailbox not allowed', '/documents?filename=a.edi', erp, 403, 'urn:cic-gateway:problem:mailbox-forbidden')
  t.same(stack.sim.calls, { login: 0, folders: 0, children: 0, upload: 0 })
})

t.test('at the upload cap the caller gets 503 with Retry-After, not 100', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY, MAX_CONCURRENT_UPLOADS: '1' } })
  stack.sim.inject('upload', { delayMs: 60_000, times: 1 })
  const hold = new AbortController()
  const held = request(`${stack.url}/documents?filename=held.edi`, { method: 'POST', body: 'held', headers: { authorization: `Bearer ${KEY}` }, signal: hold.signal }).catch(() => undefined)
  while (stack.gateway.uploads.active < 1) await sleep(20)
  const { raw, first } = await firstAnswer(stack, '/documents?filename=shed.edi', { authorization: `Bearer ${KEY}`, 'content-length': '1048576' })
  t.match(first, /^HTTP\/1\.1 503 /, 'the first thing read is the 503')
  t.match(first, /retry-after: 1/i)
  t.notMatch(raw.text, /HTTP\/1\.1 100/)
  raw.end()
  hold.abort()
  await held
})

const MULTIPART = Buffer.from('--XyZ\r\nContent-Disposition: form-data; name="file"; filename="multipart.edi"\r\nContent-Type: application/octet-stream\r\n\r\nISA*multipart\r\n--XyZ--\r\n')

t.test('a good key gets 100 Continue, then sends its body and gets 201: small, streamed, chunked and multipart bodies', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY, MEMORY_BODY_BYTES: '1024' } })
  const cases: Array<[string, Record<string, string>, Buffer, (b: Buffer) => Buffer]> = [
    ['small (kept in memory)', { 'content-length': '5' }, Buffer.from('ISA*1'), b => b],
    ['large (streamed to CIC)', { 'content-length': String(512 * 1024) }, Buffer.alloc(512 * 1024, 0x42), b => b],
    ['chunked (spooled)', { 'transfer-encoding': 'chunked' }, Buffer.alloc(4096, 0x43), b => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n0\r\n\r\n')])],
    ['multipart', { 'content-type': 'multipart/form-data; boundary=XyZ', 'content-length': String(MULTIPART.length) }, Buffer.from('ISA*multipart'), () => MULTIPART]
  ]
  for (const [what, headers, body, frame] of cases) {
    const name = `${what.split(' ')[0]!}.edi`
    const path = what === 'multipart' ? '/documents' : `/documents?filename=${name}`
    const { raw, first } = await firstAnswer(stack, path, { authorization: `Bearer ${KEY}`, ...headers })
    t.equal(first, 'HTTP/1.1 100 Continue', `${what}: invited`)
    raw.write(frame(body))
    const [, final = ''] = await raw.heads(2)
    t.match(final, /^HTTP\/1\.1 201 /, `${what}: delivered`)
    raw.end()
    await raw.untilClosed()
    t.ok(stack.sim.files().find(f => f.name === name)?.data?.equals(body), `${what}: CIC holds the body`)
  }
})
