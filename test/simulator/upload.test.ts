// Uploads into the simulator over real HTTP: response shape, policies, limits, streaming.
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js'

interface Reply { status: number, headers: Record<string, string | string[] | undefined>, body: any }
type Body = string | Buffer | Readable

const MiB = 1024 * 1024

async function start (t: Test, options?: SimulatorOptions): Promise<{ sim: Simulator, token: string, uploadId: string }> {
  const sim = await startSimulator(options)
  t.teardown(() => sim.close())
  const res = await request(`${sim.url}/api/authentication`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: DEMO_USERNAME, password: DEMO_PASSWORD }).toString()
  })
  const { access_token: token } = await res.body.json() as { access_token: string }
  return { sim, token, uploadId: sim.mailbox(DEMO_USERNAME).uploadId }
}

async function upload (sim: Simulator, token: string, folderId: string, disposition: string | undefined, body: Body, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await request(`${sim.url}/api/folders/${folderId}/files`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/octet-stream',
      ...(disposition === undefined ? {} : { 'content-disposition': disposition }),
      ...headers
    },
    body
  })
  const text = await res.body.text()
  let parsed: unknown = text
  try { parsed = JSON.parse(text) } catch {}
  return { status: res.statusCode, headers: res.headers, body: parsed }
}

/** `count` chunks of `size` bytes, produced on demand (so backpressure reaches the producer). */
function chunks (count: number, size: number, onDone?: () => void): Readable {
  const chunk = Buffer.alloc(size, 'c')
  return Readable.from((function * () {
    for (let i = 0; i < count; i++) yield chunk
    onDone?.()
  })(), { objectMode: false })
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex')

t.test('a 201 upload answers exactly like the walkthrough and stores the bytes', async t => {
  const { sim, token, uploadId } = await start(t)
  const payload = '[ { "type": "850", "value": "$99.99" } ]'
  const res = await upload(sim, token, uploadId, 'attachment;filename=purchase_order_850.json', payload, { 'x-request-id': 'r-1' })
  t.equal(res.status, 201)
  t.match(res.headers['content-type'], /^application\/json/)
  const { homeId } = sim.mailbox(DEMO_USERNAME)
  const [file] = sim.files()
  t.ok(file)
  t.match(res.body.id, /^[A-Za-z0-9_-]{20,}$/, 'opaque base64url id')
  t.same(res.body, {
    space: 'home',
    subspace: 'upload',
    id: file?.id,
    parentId: uploadId,
    name: 'purchase_order_850.json',
    length: 0,
    path: [
      { href: `/api/folders/${homeId}`, id: homeId, name: DEMO_USERNAME },
      { href: `/api/folders/${uploadId}`, id: uploadId, name: 'upload' }
    ],
    permissions: ['overwrite', 'delete'],
    systemProtected: { delete: false, rename: false },
    _links: { self: { href: `/api/files/${file?.id ?? ''}` }, parent: { href: `/api/folders/${uploadId}` } },
    meta: { lastModified: '1970-01-01T00:00:00.000Z' }
  })
  t.same(Object.keys(res.body), ['space', 'subspace', 'id', 'parentId', 'name', 'length', 'path', 'permissions', 'systemProtected', '_links', 'meta'], 'same key order as CIC')
  t.match(file, {
    folderId: uploadId,
    username: DEMO_USERNAME,
    name: 'purchase_order_850.json',
    requestedName: 'purchase_order_850.json',
    size: Buffer.byteLength(payload),
    sha256: sha256(payload),
    firstByteAt: Number,
    receivedAt: Number,
    startedAt: Number
  })
  t.same(file?.data, Buffer.from(payload))
  t.equal(file?.headers['x-request-id'], 'r-1')
  t.equal(file?.headers['content-type'], 'application/octet-stream')
  t.ok((file?.startedAt ?? 0) <= (file?.firstByteAt ?? 0) && (file?.firstByteAt ?? 0) <= (file?.receivedAt ?? 0))
  t.equal(sim.calls.upload, 1)
})

t.test('filenames: RFC 6266 filename*, and refusals before any body byte is read', async t => {
  const { sim, token, uploadId } = await start(t)
  const utf8 = await upload(sim, token, uploadId, `attachment; filename="facture-2024.edi"; filename*=UTF-8''${encodeURIComponent('façture 2024 №1.edi')}`, 'x')
  t.equal(utf8.status, 201)
  t.equal(utf8.body.name, 'façture 2024 №1.edi', 'filename* wins')
  for (const bad of [undefined, 'attachment', 'attachment;filename=', 'attachment;filename="a/b.edi"', 'attachment;filename=..', 'attachment; filename="x', 'attachment;filename="a\\\\b.edi"']) {
    const res = await upload(sim, token, uploadId, bad, 'x')
    t.equal(res.status, 400, `400 for ${String(bad)}`)
    t.type(res.body.message, 'string')
  }
  t.equal(sim.files().length, 1)
})

t.test('folders: upload folder only (403), unknown (404), token required (401)', async t => {
  const { sim, token, uploadId } = await start(t)
  const { downloadId, homeId } = sim.mailbox(DEMO_USERNAME)
  const download = await upload(sim, token, downloadId, 'attachment;filename=a.edi', 'x')
  t.equal(download.status, 403)
  t.type(download.body.message, 'string')
  t.equal((await upload(sim, token, homeId, 'attachment;filename=a.edi', 'x')).status, 403)
  const unknown = await upload(sim, token, 'bm9wZQ', 'attachment;filename=a.edi', 'x')
  t.equal(unknown.status, 404)
  t.same(unknown.body, { message: 'Folder not found' })
  const noToken = await upload(sim, 'forged.token.here', uploadId, 'attachment;filename=a.edi', 'x')
  t.equal(noToken.status, 401)
  t.type(noToken.body.message, 'string')
  sim.revokeAllTokens()
  t.equal((await upload(sim, token, uploadId, 'attachment;filename=a.edi', 'x')).status, 401)
  t.equal(sim.files().length, 0)
  t.equal(sim.calls.upload, 5)
})

t.test('a large body refused early gets its answer (lingering close), also after recreateFolders', async t => {
  const { sim, token, uploadId } = await start(t)
  sim.recreateFolders(DEMO_USERNAME)
  const res = await upload(sim, token, uploadId, 'attachment;filename=a.edi', Buffer.alloc(16 * MiB))
  t.equal(res.status, 404, 'the old upload folder id is gone')
  t.equal(res.headers.connection, 'close')
  const fresh = await upload(sim, token, sim.mailbox(DEMO_USERNAME).uploadId, 'attachment;filename=a.edi', 'x')
  t.equal(fresh.status, 201)
})

t.test('chunked uploads: 411 by default, accepted on request', async t => {
  const { sim, token, uploadId } = await start(t)
  const refused = await upload(sim, token, uploadId, 'attachment;filename=c.edi', chunks(4, 1024))
  t.equal(refused.status, 411)
  t.same(refused.body, { message: 'Length Required' })
  t.equal(sim.requests.at(-1)?.headers['transfer-encoding'], 'chunked')
  t.equal(sim.files().length, 0)

  sim.setOption('chunkedUploads', 'accept')
  const accepted = await upload(sim, token, uploadId, 'attachment;filename=c.edi', chunks(4, 1024))
  t.equal(accepted.status, 201)
  t.equal(sim.files()[0]?.size, 4096)
  t.equal(sim.files()[0]?.sha256, sha256(Buffer.alloc(4096, 'c')))
})

t.test('maxFileBytes: 413 from the Content-Length before reading, and for chunked bodies that grow too big', async t => {
  const { sim, token, uploadId } = await start(t, { maxFileBytes: MiB, chunkedUploads: 'accept' })
  const big = await upload(sim, token, uploadId, 'attachment;filename=big.edi', Buffer.alloc(32 * MiB))
  t.equal(big.status, 413)
  t.type(big.body.message, 'string')
  t.equal(big.headers.connection, 'close', 'connection closed')
  const chunked = await upload(sim, token, uploadId, 'attachment;filename=big.edi', chunks(64, 64 * 1024))
  t.equal(chunked.status, 413)
  t.equal((await upload(sim, token, uploadId, 'attachment;filename=ok.edi', Buffer.alloc(MiB))).status, 201, 'exactly the limit is fine')
  t.same(sim.files().map(f => f.name), ['ok.edi'])
})

t.test('same-name policies', async t => {
  const { sim, token, uploadId } = await start(t)
  const put = async (body: string): Promise<Reply> => await upload(sim, token, uploadId, 'attachment;filename=po.edi', body)

  t.equal((await put('one')).status, 201)
  t.equal((await put('two')).status, 201, 'overwrite is the default')
  t.same(sim.files().map(f => [f.name, f.data?.toString()]), [['po.edi', 'two']])

  sim.setOption('sameNamePolicy', 'reject')
  const conflict = await put('three')
  t.equal(conflict.status, 409)
  t.same(conflict.body, { message: 'File already exists' })
  t.same(sim.files().map(f => f.data?.toString()), ['two'])

  sim.setOption('sameNamePolicy', 'rename')
  const renamed = await put('four')
  t.equal(renamed.status, 201)
  t.equal(renamed.body.name, 'po (1).edi')
  t.equal((await put('five')).body.name, 'po (2).edi')
  t.equal((await upload(sim, token, uploadId, 'attachment;filename=README', 'x')).status, 201)
  t.equal((await upload(sim, token, uploadId, 'attachment;filename=README', 'y')).body.name, 'README (1)')
  t.same(sim.files().map(f => [f.name, f.requestedName]), [
    ['po.edi', 'po.edi'], ['po (1).edi', 'po.edi'], ['po (2).edi', 'po.edi'], ['README', 'README'], ['README (1)', 'README']
  ])
})

t.test('allowedExtensions', async t => {
  const { sim, token, uploadId } = await start(t, { allowedExtensions: ['.edi', 'json'] })
  t.equal((await upload(sim, token, uploadId, 'attachment;filename=a.EDI', 'x')).status, 201, 'case-insensitive')
  t.equal((await upload(sim, token, uploadId, 'attachment;filename=b.json', 'x')).status, 201)
  const refused = await upload(sim, token, uploadId, 'attachment;filename=c.exe', 'x')
  t.equal(refused.status, 400)
  t.same(refused.body, { message: 'File type not allowed' })
  t.equal(sim.files().length, 2)
})

t.test('an aborted or short body stores nothing', async t => {
  const { sim, token, uploadId } = await start(t)
  const url = new URL(sim.url)
  const socket = connect(Number(url.port), url.hostname)
  await new Promise(resolve => socket.once('connect', resolve))
  socket.write([
    `POST /api/folders/${uploadId}/files HTTP/1.1`,
    `Host: ${url.host}`,
    `Authorization: Bearer ${token}`,
    'Content-Disposition: attachment;filename=partial.edi',
    'Content-Length: 100000',
    '', ''
  ].join('\r\n'))
  socket.write(Buffer.alloc(50000, 'p'))
  // Let the simulator see the first half, then vanish.
  await new Promise(resolve => setTimeout(resolve, 100))
  socket.destroy()
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(sim.calls.upload, 1)
  t.equal(sim.files().length, 0, 'nothing stored')
  t.equal((await upload(sim, token, uploadId, 'attachment;filename=whole.edi', 'w')).status, 201, 'still serving')
  t.same(sim.files().map(f => f.name), ['whole.edi'])
})

t.test('keepBodies: false streams 1 GiB through a hash with flat memory; bytes arrive before the sender finishes', async t => {
  const { sim, token, uploadId } = await start(t, { keepBodies: false })
  const total = 1024 * MiB
  let senderDoneAt = 0
  const expected = createHash('sha256')
  const piece = Buffer.alloc(MiB, 'c')
  for (let i = 0; i < 1024; i++) expected.update(piece)
  global.gc?.()
  const baseline = process.memoryUsage().rss
  let peak = baseline
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 10)
  const started = Date.now()
  const res = await upload(sim, token, uploadId, 'attachment;filename=huge.bin', chunks(1024, MiB, () => { senderDoneAt = Date.now() }), { 'content-length': String(total) })
  clearInterval(sampler)
  t.equal(res.status, 201)
  const [file] = sim.files()
  t.equal(file?.size, total)
  t.equal(file?.sha256, expected.digest('hex'))
  t.equal(file?.data, undefined, 'body not kept')
  t.ok((file?.firstByteAt ?? Infinity) < senderDoneAt, 'first byte stored before the sender finished')
  const growth = (peak - baseline) / MiB
  // Sender and simulator share this process; both together stay far below the body size.
  t.ok(growth < 200, `RSS grew ${growth.toFixed(1)} MiB for 1 GiB`)
  t.comment(`1 GiB in ${Date.now() - started} ms`)
})

t.test('backpressure: a stalled reader stops the sender', async t => {
  const { sim, token, uploadId } = await start(t, { keepBodies: false })
  sim.inject('upload', { delayMs: 600, stallBody: true })
  let senderDoneAt = 0
  const started = Date.now()
  const res = await upload(sim, token, uploadId, 'attachment;filename=slow.bin', chunks(64, MiB, () => { senderDoneAt = Date.now() }), { 'content-length': String(64 * MiB) })
  const answeredAt = Date.now()
  t.equal(res.status, 201)
  const [file] = sim.files()
  t.equal(file?.size, 64 * MiB)
  t.ok((file?.receivedAt ?? 0) - (file?.firstByteAt ?? 0) >= 590, 'the simulator paused after the first chunk')
  t.ok(senderDoneAt - started >= 500, `the sender was held back (${senderDoneAt - started} ms)`)
  t.ok(answeredAt - (file?.receivedAt ?? 0) < 500, 'no extra delay after the body')
})

t.test('maxConcurrentUploads: a burst beyond it gets 429 + Retry-After, nothing stored; a slot frees as an upload ends', async t => {
  const { sim, token, uploadId } = await start(t, { maxConcurrentUploads: 2 })
  // Two uploads held mid-body occupy both slots.
  let release!: () => void
  const held = new Promise<void>(resolve => { release = resolve })
  const slow = (name: string): Promise<Reply> => upload(sim, token, uploadId, `attachment;filename=${name}`, Readable.from((async function * () {
    yield Buffer.from('first half ')
    await held
    yield Buffer.from('second half')
  })()), { 'content-length': '22' })
  const first = slow('a.edi')
  const second = slow('b.edi')
  const deadline = Date.now() + 5000
  while (sim.requests.filter(r => r.operation === 'upload').length < 2 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
  await new Promise(resolve => setTimeout(resolve, 50))
  const burst = await upload(sim, token, uploadId, 'attachment;filename=c.edi', 'third')
  t.equal(burst.status, 429)
  t.equal(burst.headers['retry-after'], '1')
  release()
  t.same([(await first).status, (await second).status], [201, 201])
  t.same(sim.files().map(f => f.name).sort(), ['a.edi', 'b.edi'], 'the refused upload stored nothing')
  t.same(sim.requests.filter(r => r.operation === 'upload').map(r => r.status), [201, 201, 429], 'each request records the status it was answered')
  t.equal((await upload(sim, token, uploadId, 'attachment;filename=c.edi', 'third')).status, 201, 'accepted once a slot is free')
})
