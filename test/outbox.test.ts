// The outbox (store and forward) driven directly, delivering through a real DeliveryService
// into a real CIC simulator.
import t from 'tap'
import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { BodyIncompleteError, BodyTooLargeError } from '../src/delivery/body.js'
import { OutboxFullError } from '../src/delivery/outbox/index.js'
import { startSimulator } from '../src/simulator/index.js'
import { doc, openOutbox, until } from './helpers/outbox.js'

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('base64')
const hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')
/** The CIC-down test's outbox capacity: the first documents take about half of it. */
const CAPACITY = 16 * 1024

t.test('an accepted document is on disk when accept resolves, then in CIC once with the right bytes', async t => {
  const sim = await startSimulator({ keepBodies: true })
  t.teardown(async () => { await sim.close() })
  const seen: Array<[string, string]> = []
  const h = await openOutbox(t, sim.url, { start: false, outbox: { onChange: s => { seen.push([s.id, s.state]) } } })
  const body = Buffer.from('ISA*00*~' + 'x'.repeat(5000))
  const status = await h.outbox.accept(doc('po-1.edi', body, { caller: 'erp', idempotencyKey: 'k-1' }))
  t.match(status, { state: 'queued', caller: 'erp', mailbox: 'default', filename: 'po-1.edi', bytes: body.length, sha256: sha256(body), attempts: 0, idempotencyKey: 'k-1' })
  t.ok(!Number.isNaN(Date.parse(status.acceptedAt)))
  // Kept before anything was sent: body and record in queue/, nothing left in tmp/.
  t.same(await h.files('queue'), [status.id, `${status.id}.json`])
  t.same(await h.files('tmp'), [])
  t.same(await readFile(join(h.dir, 'queue', status.id)), body)
  t.equal(sim.calls.upload, 0)

  const outbox = h.outbox
  outbox.start()
  await until(async () => (await outbox.get(status.id, 'erp'))?.state === 'delivered', 10_000, 'delivered')
  const delivered = (await outbox.get(status.id, 'erp'))!
  const files = sim.files()
  t.equal(files.length, 1)
  t.equal(files[0]!.name, 'po-1.edi')
  t.equal(files[0]!.sha256, hex(body))
  t.match(delivered, { state: 'delivered', attempts: 1, cic: { id: files[0]!.id, name: 'po-1.edi' } })
  t.ok(!Number.isNaN(Date.parse(delivered.deliveredAt!)))
  // Out of the queue: the body is gone, the status record kept in done/.
  t.same(await h.files('queue'), [])
  t.same(await h.files('done'), [`${status.id}.json`])
  t.equal(outbox.bytesInUse, 0)
  t.equal(outbox.oldestQueuedAgeSeconds(), 0)
  // Every state change is reported once it is on disk (the metrics count these).
  t.same(seen, [[status.id, 'queued'], [status.id, 'delivering'], [status.id, 'delivered']])
  t.same(outbox.stateCounts(), { queued: 0, delivering: 0, delivered: 1, failed: 0 })

  // Another caller does not see it, nor list it.
  t.equal(await outbox.get(status.id, 'wms'), undefined)
  t.same((await outbox.list('wms', 'delivered', { limit: 10 })).items, [])
  t.same((await outbox.list('erp', 'delivered', { limit: 10 })).items.map(i => i.id), [status.id])

  // Still readable after a restart.
  await outbox.close(1000)
  const again = await h.reopen()
  t.match(await again.get(status.id, 'erp'), { state: 'delivered', cic: { id: files[0]!.id } })
  t.equal(sim.files().length, 1)
})

t.test('CIC refusing (503, then connection refused): documents are accepted up to the capacity and each is delivered once when CIC is back, never more than `concurrency` at once, without tripping its burst limit', async t => {
  let sim = await startSimulator({ keepBodies: true })
  const port = sim.port
  const sims = [sim]
  t.teardown(async () => { for (const s of sims) await s.close() })
  let uploading = 0
  let most = 0
  const h = await openOutbox(t, sim.url, {
    env: { CIRCUIT_FAILURE_THRESHOLD: '3', CIRCUIT_HALF_OPEN_AFTER_SECONDS: '0.2', CIC_RETRIES: '2' },
    outbox: { concurrency: 2, retry: { baseMs: 20, maxMs: 300 }, maxBytes: CAPACITY }
  })
  // Counts uploads in flight around the real delivery service.
  const outbox = await (async () => {
    await h.outbox.close(1000)
    return await h.reopen({
      deliver: async d => {
        uploading++
        most = Math.max(most, uploading)
        try { return await h.delivery.deliver(d) } finally { uploading-- }
      }
    })
  })()
  sim.inject('upload', { status: 503, times: 15, headers: { 'retry-after': '0' } })
  const bodies = Array.from({ length: 12 }, (_, i) => Buffer.from(`doc ${i} `.repeat(100 + i)))
  const ids: string[] = []
  for (const [i, body] of bodies.entries()) ids.push((await outbox.accept(doc(`d-${i}.edi`, body))).id)
  await until(() => sim.calls.upload >= 8, 10_000, 'uploads refused')
  // CIC gone: connections refused.
  await sim.close()
  await new Promise(resolve => setTimeout(resolve, 500))
  const waiting = await outbox.list('', 'queued', { limit: 100 })
  t.ok(waiting.items.length > 0, 'documents wait in the queue while CIC is down')
  t.ok(waiting.items.some(i => i.lastError !== undefined && ['cic-unavailable', 'cic-unreachable', 'circuit-open'].includes(i.lastError.code)), 'the reason is visible')
  t.ok(outbox.oldestQueuedAgeSeconds() > 0)
  // More are accepted while CIC is down, until the outbox holds its capacity; then refused, nothing half kept.
  const names = bodies.map((_, i) => `d-${i}.edi`)
  for (let i = 0; ; i++) {
    const late = Buffer.from(`accepted while CIC was down ${i} `.repeat(40))
    const accepted = await outbox.accept(doc(`late-${i}.edi`, late)).catch((err: unknown) => err)
    if (accepted instanceof OutboxFullError) {
      t.ok(outbox.bytesInUse + late.length > CAPACITY, `refused only when it would not fit (${outbox.bytesInUse} of ${CAPACITY} bytes held, ${i} accepted during the outage)`)
      t.ok(i >= 5, 'several documents were accepted while CIC was down')
      break
    }
    if (!(typeof accepted === 'object' && accepted !== null && 'id' in accepted)) throw accepted
    ids.push((accepted as { id: string }).id)
    bodies.push(late)
    names.push(`late-${i}.edi`)
  }
  t.ok(outbox.bytesInUse <= CAPACITY)
  // CIC back on the same port, with a burst limit at the outbox's per-mailbox concurrency.
  sim = await startSimulator({ keepBodies: true, port, maxConcurrentUploads: 2 })
  sims.push(sim)
  // Each upload answered after 40 ms: uploads sent at once overlap there.
  sim.inject('upload', { delayMs: 40, times: 1000 })
  await until(async () => (await outbox.list('', 'delivered', { limit: 100 })).items.length === ids.length, 30_000, 'all delivered')
  t.same(sim.requests.filter(r => r.status === 429).length, 0, 'the backlog never burst past CIC\'s limit of 2 uploads at once')
  const files = sims.flatMap(s => s.files())
  for (const [i, body] of bodies.entries()) {
    const name = names[i]!
    const copies = files.filter(f => f.requestedName === name)
    t.equal(copies.length, 1, `${name} in CIC once`)
    t.equal(copies[0]?.sha256, hex(body), `${name} with its bytes`)
  }
  t.ok(most <= 2, `at most 2 uploads at once (saw ${most})`)
  t.same(await h.files('queue'), [])
  t.equal(outbox.oldestQueuedAgeSeconds(), 0)
})

t.test('a 4xx refusal makes the delivery failed with the reason, not retried; retry() puts it back', async t => {
  const sim = await startSimulator({ keepBodies: true, allowedExtensions: ['.edi'] })
  t.teardown(async () => { await sim.close() })
  const h = await openOutbox(t, sim.url)
  const { outbox } = h
  const body = Buffer.from('not an edi file')
  const { id } = await outbox.accept(doc('report.pdf', body, { caller: 'erp' }))
  await until(async () => (await outbox.get(id, 'erp'))?.state === 'failed', 10_000, 'failed')
  const failed = (await outbox.get(id, 'erp'))!
  t.match(failed, { state: 'failed', attempts: 1, lastError: { code: 'cic-rejected', upstreamStatus: 400 } })
  t.equal(failed.nextAttemptAt, undefined)
  t.same((await outbox.list('erp', 'failed', { limit: 10 })).items.map(i => i.id), [id])
  t.equal(await outbox.retry(id, 'wms'), undefined, 'another caller cannot retry it')
  // Not retried on its own.
  await new Promise(resolve => setTimeout(resolve, 500))
  t.equal(sim.calls.upload, 1)
  // The body is kept for a retry.
  t.same(await h.files('queue'), [id, `${id}.json`])

  sim.setOption('allowedExtensions', undefined)
  const requeued = await outbox.retry(id, 'erp')
  t.equal(requeued?.state, 'queued')
  await until(async () => (await outbox.get(id, 'erp'))?.state === 'delivered', 10_000, 'delivered after retry')
  t.equal(sim.files().length, 1)
  t.equal(sim.files()[0]!.sha256, hex(body))
  t.match(await outbox.get(id, 'erp'), { attempts: 2 })
  // retry() of a delivered one changes nothing.
  t.equal((await outbox.retry(id, 'erp'))?.state, 'delivered')
  t.equal(sim.files().length, 1)
})

t.test('older than the age limit without success: failed (outbox-expired), and a retry delivers it', async t => {
  const sim = await startSimulator({ keepBodies: true })
  t.teardown(async () => { await sim.close() })
  sim.inject('upload', { status: 503, times: 1000, headers: { 'retry-after': '0' } })
  const h = await openOutbox(t, sim.url, { outbox: { maxAgeMs: 800, retry: { baseMs: 50, maxMs: 100 } }, env: { CIC_RETRIES: '0', CIRCUIT_FAILURE_THRESHOLD: '100' } })
  const { outbox } = h
  const { id } = await outbox.accept(doc('late.edi', 'too late'))
  await until(async () => (await outbox.get(id, ''))?.state === 'failed', 10_000, 'failed')
  const failed = (await outbox.get(id, ''))!
  t.match(failed, { state: 'failed', lastError: { code: 'outbox-expired', upstreamStatus: 503 } })
  t.ok(failed.attempts >= 2, 'tried more than once before giving up')
  const calls = sim.calls.upload
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(sim.calls.upload, calls, 'no more attempts once failed')
  sim.clearFaults()
  await outbox.retry(id, '')
  await until(async () => (await outbox.get(id, ''))?.state === 'delivered', 10_000, 'delivered after retry')
  t.equal(sim.files().length, 1)
})

t.test('torn and mismatching records in queue/ are set aside in corrupt/ at open, never uploaded; open succeeds and the good ones are delivered', async t => {
  const sim = await startSimulator({ keepBodies: true })
  t.teardown(async () => { await sim.close() })
  // Three documents stored, not delivered yet.
  const h = await openOutbox(t, sim.url, { start: false })
  const good = await h.outbox.accept(doc('good.edi', 'good bytes', { caller: 'erp' }))
  const torn = await h.outbox.accept(doc('torn.edi', 'torn record', { caller: 'erp' }))
  const wrong = await h.outbox.accept(doc('wrong.edi', 'the right bytes', { caller: 'erp' }))
  const short = await h.outbox.accept(doc('short.edi', 'a body cut short', { caller: 'erp' }))
  await h.outbox.close(1000)
  // A torn record (truncated JSON), a body with other bytes of the same size, a body cut short.
  const tornPath = join(h.dir, 'queue', `${torn.id}.json`)
  const text = await readFile(tornPath, 'utf8')
  await writeFile(tornPath, text.slice(0, Math.floor(text.length / 2)))
  await writeFile(join(h.dir, 'queue', wrong.id), 'the WRONG bytes')
  await writeFile(join(h.dir, 'queue', short.id), 'a body')
  // Leftovers of an accept interrupted before its commit.
  await writeFile(join(h.dir, 'tmp', '0190a0b0-0000-7000-8000-000000000000'), 'half a body')

  const outbox = await h.reopen()
  t.equal(outbox.recovery.corrupt.filter(c => c.id === torn.id).length, 2, 'torn record and its body set aside')
  t.match(outbox.recovery.corrupt.find(c => c.id === wrong.id), { reason: /SHA-256/ })
  t.match(outbox.recovery.corrupt.find(c => c.id === short.id && c.file.endsWith('.json')), { reason: /bytes/ })
  t.equal(outbox.recovery.discarded, 1)
  t.notOk((await h.files('tmp')).includes('0190a0b0-0000-7000-8000-000000000000'), 'the unacknowledged leftover is removed')
  const corrupt = await h.files('corrupt')
  for (const id of [torn.id, wrong.id, short.id]) {
    t.ok(corrupt.includes(id) && corrupt.includes(`${id}.json`), `${id} in corrupt/`)
  }
  t.ok(h.logs().some(l => l.event === 'outbox.corrupt' && l.id === torn.id), 'reported in the log')
  await until(async () => (await outbox.get(good.id, 'erp'))?.state === 'delivered', 10_000, 'good delivered')
  await new Promise(resolve => setTimeout(resolve, 300))
  t.same(sim.files().map(f => f.name), ['good.edi'], 'only the intact document reached CIC')
  // The caller sees the damaged ones failed (when their record could be read).
  t.match(await outbox.get(wrong.id, 'erp'), { state: 'failed', lastError: { code: 'outbox-corrupt' } })
  t.match(await outbox.get(short.id, 'erp'), { state: 'failed', lastError: { code: 'outbox-corrupt' } })
  t.equal(await outbox.get(torn.id, 'erp'), undefined)
  t.equal((await outbox.retry(wrong.id, 'erp'))?.state, 'failed', 'a set-aside document cannot be retried')
})

t.test('a stored body damaged after open is not uploaded whole: set aside, CIC stores nothing', async t => {
  const sim = await startSimulator({ keepBodies: true })
  t.teardown(async () => { await sim.close() })
  const h = await openOutbox(t, sim.url, { start: false })
  const body = Buffer.alloc(600 * 1024, 7)
  const { id } = await h.outbox.accept(doc('big.edi', body))
  const damaged = Buffer.from(body)
  damaged[damaged.length - 1] = 8
  await writeFile(join(h.dir, 'queue', id), damaged)
  h.outbox.start()
  await until(async () => (await h.outbox.get(id, ''))?.state === 'failed', 10_000, 'failed')
  t.match(await h.outbox.get(id, ''), { lastError: { code: 'outbox-corrupt' } })
  t.equal(sim.files().length, 0)
  t.ok((await h.files('corrupt')).includes(id))
})

t.test('capacity: a document beyond maxBytes is refused with OutboxFullError and leaves nothing behind', async t => {
  const sim = await startSimulator({ keepBodies: true })
  t.teardown(async () => { await sim.close() })
  const h = await openOutbox(t, sim.url, { start: false, outbox: { maxBytes: 10_000 } })
  const { outbox } = h
  const first = await outbox.accept(doc('a.edi', Buffer.alloc(6000, 1)))
  // Declared length: refused before a byte is read.
  await t.rejects(outbox.accept(doc('b.edi', Buffer.alloc(6000, 2))), OutboxFullError)
  // Unknown length (chunked): refused when the bytes pass the capacity; the partial file removed.
  const chunked = { ...doc('c.edi', Buffer.alloc(0), { declare: false }), source: Readable.from([Buffer.alloc(3000, 3), Buffer.alloc(3000, 3)]) }
  await t.rejects(outbox.accept(chunked), OutboxFullError)
  t.same(await h.files('queue'), [first.id, `${first.id}.json`])
  t.same(await h.files('tmp'), [])
  t.equal(outbox.bytesInUse, 6000)
  // The document limit and a short body are refused the same clean way.
  await t.rejects(outbox.accept({ ...doc('e.edi', 'x'), maxBytes: 0 }), BodyTooLargeError)
  await t.rejects(outbox.accept({ ...doc('f.edi', 'xyz'), expectedLength: 10 }), BodyIncompleteError)
  const cut = { ...doc('g.edi', Buffer.alloc(0), { declare: false }), source: new Readable({ read () { this.push(Buffer.alloc(100)); this.destroy(new Error('caller hung up')) } }) }
  await t.rejects(outbox.accept(cut), BodyIncompleteError)
  t.same(await h.files('queue'), [first.id, `${first.id}.json`])
  t.same(await h.files('tmp'), [])
  t.equal(outbox.bytesInUse, 6000)
  // What fits is still accepted.
  const fits = await outbox.accept(doc('d.edi', Buffer.alloc(4000, 4)))
  t.equal(outbox.bytesInUse, 10_000)
  t.same(await h.files('queue'), [first.id, `${first.id}.json`, fits.id, `${fits.id}.json`].sort())
  // Delivered documents free their room.
  outbox.start()
  await until(() => outbox.bytesInUse === 0, 10_000, 'delivered')
  await outbox.accept(doc('g.edi', Buffer.alloc(9000, 5)))
})
