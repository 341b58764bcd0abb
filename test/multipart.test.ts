import t, { type Test } from 'tap'
import { connect } from 'node:net'
import { multipart, send } from './helpers/http.js'
import { startStack, type Stack } from './helpers/stack.js'

t.test('multipart/form-data: the one file part is the document, named by its part filename', async t => {
  const stack = await startStack(t)
  const form = multipart([{ name: 'note', value: 'ignored field' }, { name: 'document', value: 'ST*850*0001~', filename: 'order.edi' }])
  const res = await send(`${stack.url}/documents`, form)
  t.equal(res.status, 201)
  t.equal(res.json().name, 'order.edi')
  t.same(stack.sim.files()[0]?.data, Buffer.from('ST*850*0001~'), 'only the file part\'s bytes reach CIC')
})

t.test('multipart: ?filename= overrides the part filename', async t => {
  const stack = await startStack(t)
  const form = multipart([{ name: 'file', value: 'x', filename: 'part-name.edi' }])
  const res = await send(`${stack.url}/documents?filename=query-name.edi`, form)
  t.equal(res.status, 201)
  t.equal(stack.sim.files()[0]?.name, 'query-name.edi')
})

t.test('multipart: two file parts, or none, are refused and nothing reaches CIC', async t => {
  const stack = await startStack(t)
  const two = multipart([{ name: 'a', value: '1', filename: 'a.edi' }, { name: 'b', value: '2', filename: 'b.edi' }])
  const r2 = await send(`${stack.url}/documents`, two)
  t.equal(r2.status, 400)
  t.equal(r2.json().type, 'urn:cic-gateway:problem:multipart-too-many-files')
  const none = multipart([{ name: 'just', value: 'a field' }])
  const r0 = await send(`${stack.url}/documents`, none)
  t.equal(r0.status, 400)
  t.equal(r0.json().type, 'urn:cic-gateway:problem:multipart-no-file')
  t.equal(stack.sim.calls.upload, 0)
  t.same(await stack.spoolFiles(), [])
})

const KiB = 1024
const MiB = 1024 * KiB

interface Answer {
  status: number
  json: () => any
  /** Document bytes written before the answer came (the rest were never sent). */
  sent: number
  /** The whole body was written before the answer. */
  finished: boolean
}

/**
 * Streams a multipart request over a raw socket the way a careful client does: piece by
 * piece with backpressure, stopping as soon as an answer arrives. With `chunked` no length
 * is declared; otherwise Content-Length is the sum of the pieces.
 */
async function streamMultipart (url: string, pieces: Buffer[], opts: { chunked: boolean }): Promise<Answer> {
  const { hostname, port } = new URL(url)
  const length = pieces.reduce((n, p) => n + p.length, 0)
  const head = [
    'POST /documents HTTP/1.1',
    'Host: gateway',
    `Content-Type: multipart/form-data; boundary=${BOUNDARY}`,
    opts.chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`,
    '', ''
  ].join('\r\n')
  return await new Promise((resolve, reject) => {
    let data = Buffer.alloc(0)
    let sent = 0
    let finished = false
    const answered = (): boolean => data.length > 0
    const socket = connect(Number(port), hostname, () => {
      socket.write(head)
      let i = 0
      const pump = (): void => {
        while (i < pieces.length && !answered() && !socket.destroyed) {
          const p = pieces[i++]!
          sent += p.length
          const more = opts.chunked ? socket.write(Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')])) : socket.write(p)
          if (!more) { socket.once('drain', pump); return }
        }
        if (i === pieces.length && !answered()) {
          finished = true
          if (opts.chunked) socket.write('0\r\n\r\n')
        }
      }
      pump()
    })
    socket.on('data', (d: Buffer) => { data = Buffer.concat([data, d]) })
    // Writing the rest after an answer may fail (the gateway closes): the answer is what counts.
    socket.on('error', err => { if (!answered()) reject(err) })
    socket.on('close', () => {
      const text = data.toString('latin1')
      const split = text.indexOf('\r\n\r\n')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
      const rest = text.slice(split + 4)
      // The problem bodies are small: Content-Length framed (or one chunk).
      const body = /transfer-encoding: chunked/i.test(text.slice(0, split)) ? rest.slice(rest.indexOf('\r\n') + 2, rest.lastIndexOf('\r\n0\r\n')) : rest
      resolve({ status, json: () => JSON.parse(body), sent, finished })
    })
  })
}

const BOUNDARY = 'multipart-bound-test'
const partHead = (disposition: string): Buffer => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; ${disposition}\r\n\r\n`)
const filePart = (data: Buffer): Buffer[] => [partHead('name="file"; filename="order.edi"'), data, Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]
const PIECE = Buffer.alloc(64 * KiB, 0x78)
/** `size` bytes (a multiple of 64 KiB) in 64 KiB pieces. */
function filler (size: number): Buffer[] {
  return Array.from({ length: size / PIECE.length }, () => PIECE)
}

async function nothingDelivered (t: Test, stack: Stack): Promise<void> {
  t.equal(stack.sim.calls.upload, 0, 'nothing reached CIC')
  t.same(await stack.spoolFiles(), [], 'no spool file is left')
  t.equal(stack.gateway.spool.bytesInUse, 0)
}

t.test('multipart: a field over its 64 KiB limit gets 413, never a silently shortened field and a 201', async t => {
  const stack = await startStack(t, { env: { MAX_BODY_BYTES: String(MiB) } })
  const form = multipart([{ name: 'note', value: Buffer.alloc(100 * KiB, 0x6e) }, { name: 'document', value: 'ST*850*0001~', filename: 'order.edi' }])
  const res = await send(`${stack.url}/documents`, form)
  t.equal(res.status, 413)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.equal(res.json().type, 'urn:cic-gateway:problem:multipart-field-too-large')
  t.equal(res.json().delivered, 'no')
  // The same, with the oversized field after the file part: the spooled file is released.
  const after = multipart([{ name: 'document', value: Buffer.alloc(200 * KiB, 1), filename: 'order.edi' }, { name: 'note', value: Buffer.alloc(100 * KiB, 0x6e) }])
  const res2 = await send(`${stack.url}/documents`, after)
  t.equal(res2.status, 413)
  t.equal(res2.json().type, 'urn:cic-gateway:problem:multipart-field-too-large')
  await nothingDelivered(t, stack)
})

t.test('multipart: a 3 MiB field with MAX_BODY_BYTES at 1 MiB gets 413 before the body is read, with or without a length', async t => {
  const stack = await startStack(t, { env: { MAX_BODY_BYTES: String(MiB) } })
  const pieces = [partHead('name="note"'), ...filler(3 * MiB), Buffer.from('\r\n'), ...filePart(Buffer.from('ST*850*0001~'))]
  const declared = await streamMultipart(stack.url, pieces, { chunked: false })
  t.equal(declared.status, 413, 'Content-Length over MAX_BODY_BYTES + the allowance')
  t.equal(declared.json().type, 'urn:cic-gateway:problem:document-too-large')
  t.equal(declared.json().delivered, 'no')
  const chunked = await streamMultipart(stack.url, pieces, { chunked: true })
  t.equal(chunked.status, 413, 'chunked: refused once the bytes read pass the bound')
  t.equal(chunked.json().type, 'urn:cic-gateway:problem:document-too-large')
  // Without a length: a field streaming on and on is not read to its end.
  const endless = await streamMultipart(stack.url, [partHead('name="note"'), ...filler(64 * MiB), Buffer.from('\r\n'), ...filePart(Buffer.from('x'))], { chunked: true })
  t.equal(endless.status, 413, 'a 64 MiB field')
  t.equal(endless.json().type, 'urn:cic-gateway:problem:document-too-large')
  t.notOk(endless.finished, 'answered before the caller finished sending: the gateway stopped reading')
  await nothingDelivered(t, stack)
  t.equal(stack.gateway.uploads.active, 0, 'no upload slot is held')
})

t.test('multipart: bytes busboy skips (preamble, epilogue, the rest of a cut field) count toward the bound', async t => {
  const stack = await startStack(t, { env: { MAX_BODY_BYTES: String(MiB) } })
  // A preamble before the first boundary and an epilogue after the last are skipped without any busboy limit.
  const preamble = await streamMultipart(stack.url, [...filler(64 * MiB), Buffer.from('\r\n'), ...filePart(Buffer.from('x'))], { chunked: true })
  t.equal(preamble.status, 413, 'a 64 MiB preamble')
  t.equal(preamble.json().type, 'urn:cic-gateway:problem:document-too-large')
  t.notOk(preamble.finished, 'answered before the caller finished sending')
  const epilogue = await streamMultipart(stack.url, [...filePart(Buffer.from('x')), ...filler(4 * MiB)], { chunked: true })
  t.equal(epilogue.status, 413, 'a 4 MiB epilogue')
  t.equal(epilogue.json().type, 'urn:cic-gateway:problem:document-too-large')
  // A file part of MAX_BODY_BYTES followed by a field cut at its limit whose rest streams on.
  const cut = await streamMultipart(stack.url, [...filePart(Buffer.alloc(MiB, 1)).slice(0, 2), Buffer.from('\r\n'), partHead('name="note"'), ...filler(4 * MiB)], { chunked: true })
  t.equal(cut.status, 413, 'a field streaming on after the file')
  await nothingDelivered(t, stack)
})

t.test('multipart: a file of exactly MAX_BODY_BYTES with fields within their limits still passes', async t => {
  const stack = await startStack(t, { env: { MAX_BODY_BYTES: String(MiB) } })
  const fields = Array.from({ length: 10 }, (_v, i) => ({ name: `f${i}`, value: Buffer.alloc(64 * KiB, 0x61) }))
  const data = Buffer.alloc(MiB, 7)
  const form = multipart([...fields, { name: 'document', value: data, filename: 'full.edi' }])
  const res = await send(`${stack.url}/documents`, form)
  t.equal(res.status, 201)
  t.same(stack.sim.files()[0]?.data, data, 'the whole file reached CIC')
  t.same(await stack.spoolFiles(), [])
})
