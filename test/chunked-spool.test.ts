import t from 'tap'
import { stat } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { postDocument } from './helpers/http.js'
import { scrape } from './helpers/prometheus.js'
import { startStack } from './helpers/stack.js'

function chunked (buf: Buffer, size = 16 * 1024): Readable {
  const parts: Buffer[] = []
  for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size))
  return Readable.from(parts)
}

t.test('a chunked request is spooled and sent with Content-Length (the simulator refuses chunked uploads)', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '65536' } })
  const body = Buffer.alloc(3 * 1024 * 1024)
  for (let i = 0; i < body.length; i++) body[i] = i % 251
  const res = await postDocument(stack.url, 'chunked.edi', chunked(body))
  t.equal(res.status, 201)
  const upload = stack.sim.requests.find(r => r.operation === 'upload')
  t.equal(upload?.headers['content-length'], String(body.length))
  t.equal(upload?.headers['transfer-encoding'], undefined)
  t.same(stack.sim.files()[0]?.data, body, 'intact')
  t.same(await stack.spoolFiles(), [], 'the spool file is deleted after delivery')
  t.equal(stack.gateway.spool.bytesInUse, 0)
  t.ok(stack.logs().some(l => l.event === 'document.delivered' && l.bodyMode === 'spool-file'), 'went through a spool file')
})

t.test('a small chunked request stays in memory', async t => {
  const stack = await startStack(t)
  const res = await postDocument(stack.url, 'small.edi', chunked(Buffer.from('tiny chunked body'), 4))
  t.equal(res.status, 201)
  t.ok(stack.logs().some(l => l.event === 'document.delivered' && l.bodyMode === 'spool-memory'))
})

t.test('the spool file is deleted when the delivery fails', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '1024' } })
  stack.sim.inject('upload', { status: 500 })
  const res = await postDocument(stack.url, 'fails.edi', chunked(Buffer.alloc(100 * 1024, 1)))
  t.equal(res.status, 502)
  t.same(await stack.spoolFiles(), [])
  t.equal(stack.gateway.spool.bytesInUse, 0)
})

t.test('a chunked body over MAX_BODY_BYTES gets 413, nothing reaches CIC and the spool is cleaned', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '1024', MAX_BODY_BYTES: '65536' } })
  const res = await postDocument(stack.url, 'huge.edi', chunked(Buffer.alloc(200 * 1024, 2))).catch((err: Error) => err)
  if (res instanceof Error) {
    // The gateway may close the connection while the client still sends: that is a refusal too.
    t.pass(`connection closed: ${res.message}`)
  } else {
    t.equal(res.status, 413)
    t.equal(res.json().type, 'urn:cic-gateway:problem:document-too-large')
  }
  t.equal(stack.sim.calls.upload, 0)
  t.same(await stack.spoolFiles(), [])
})

const SPILL = 64 * 1024

/** Polls a condition the gateway reaches on its own (a bound on waiting, not on speed). */
async function until (what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still not true after ${ms} ms: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/**
 * A request over a raw socket that stops after `cut` bytes of the document and destroys
 * the socket: chunked (chunks of `chunkSize`) or one multipart file part of `total` bytes.
 */
async function abortedUpload (url: string, opts: { name: string, total: number, cut: number, chunkSize: number, multipart: boolean, flushFirst: boolean }): Promise<void> {
  const { hostname, port } = new URL(url)
  const boundary = 'spill-boundary'
  const prefix = opts.multipart ? Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${opts.name}"\r\n\r\n`) : Buffer.alloc(0)
  const document = Buffer.alloc(opts.total, 0x41)
  // The bytes of the body up to the cut: the multipart prefix plus `cut` document bytes.
  const payload = Buffer.concat([prefix, document.subarray(0, opts.cut)])
  const head = [
    `POST /documents?filename=${opts.name} HTTP/1.1`,
    'Host: gateway',
    `Content-Type: ${opts.multipart ? `multipart/form-data; boundary=${boundary}` : 'application/octet-stream'}`,
    'Transfer-Encoding: chunked',
    '', ''
  ].join('\r\n')
  const wire: Buffer[] = [Buffer.from(head)]
  for (let i = 0; i < payload.length; i += opts.chunkSize) {
    const declared = Math.min(opts.chunkSize, prefix.length + opts.total - i)
    // The last chunk is cut short: its size line promises more than is sent.
    wire.push(Buffer.from(`${declared.toString(16)}\r\n`), payload.subarray(i, i + opts.chunkSize))
    if (i + opts.chunkSize <= payload.length) wire.push(Buffer.from('\r\n'))
  }
  await new Promise<void>(resolve => {
    const socket = connect(Number(port), hostname, () => {
      const data = Buffer.concat(wire)
      if (opts.flushFirst) socket.write(data, () => socket.destroy())
      else { socket.write(data); socket.destroy() }
    })
    socket.on('error', () => {})
    socket.on('close', () => resolve())
  })
}

t.test('the spool gauge equals the bytes on disk after completed, failed and aborted uploads around the spill point', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: String(SPILL), MAX_BODY_BYTES: String(4 * SPILL) } })
  const ended = (): number => stack.logs().filter(l => l.event === 'document.delivered' || l.event === 'document.failed').length
  const onDisk = async (): Promise<number> => {
    let bytes = 0
    for (const name of await stack.spoolFiles()) bytes += (await stat(join(stack.spoolDir, name))).size
    return bytes
  }
  let requests = 0
  let problems = 0
  let delivered = 0
  const tries = 300
  for (let i = 0; i < tries; i++) {
    const name = `spill-${i}.edi`
    if (i % 10 === 3) {
      // Completed through a spool file.
      const res = await postDocument(stack.url, name, chunked(Buffer.alloc(SPILL + 1 + i, 3), 8 * 1024 + i))
      requests++
      delivered++
      if (res.status !== 201) problems++
    } else if (i % 10 === 7) {
      // Failed at CIC after the body was spooled.
      stack.sim.inject('upload', { status: 500 })
      const res = await postDocument(stack.url, name, chunked(Buffer.alloc(SPILL + 1 + i, 4), 8 * 1024 + i))
      requests++
      if (res.status !== 502) problems++
    } else {
      // Aborted within 16 KiB either side of the spill point, in chunks of varied sizes.
      const cut = SPILL - 16 * 1024 + ((i * 7919) % (32 * 1024))
      await abortedUpload(stack.url, { name, total: 2 * SPILL, cut, chunkSize: 1024 + ((i * 4099) % (24 * 1024)), multipart: i % 3 === 0, flushFirst: i % 2 === 0 })
      requests++
      // The request has ended once its line is logged; an aborted body is released before that.
      await until(`request ${i} ended`, () => ended() >= requests)
      const files = await stack.spoolFiles()
      if (files.length !== 0 || stack.gateway.spool.bytesInUse !== 0) {
        t.fail(`after aborted try ${i} (cut at ${cut}): ${files.length} spool file(s) left, gauge ${stack.gateway.spool.bytesInUse}`)
        break
      }
      continue
    }
    await until(`request ${i} ended`, () => ended() >= requests && stack.gateway.uploads.active === 0)
    // The route releases the file right after its answer: at rest once that has run.
    await until(`spool at rest after try ${i}`, async () => (await stack.spoolFiles()).length === 0 && stack.gateway.spool.bytesInUse === 0, 5000)
      .catch(async (err: Error) => { t.fail(`${err.message}: gauge ${stack.gateway.spool.bytesInUse}, on disk ${await onDisk()}`) })
  }
  t.equal(problems, 0, 'the completed uploads got 201 and the failed ones 502')
  t.equal(stack.sim.files().length, delivered, 'every completed upload reached CIC')
  t.same(await stack.spoolFiles(), [], 'no spool file outlives its request')
  t.equal(stack.gateway.spool.bytesInUse, await onDisk(), 'the gauge equals the bytes on disk')
  t.equal((await scrape(stack.url)).value('cic_gateway_spool_bytes'), 0, 'the metric reads 0 at rest')
})
