// The outbox across close and open, unknown outcomes and CIC's Retry-After, driven directly
// with a real DeliveryService and simulator.
import t from 'tap'
import { createHash } from 'node:crypto'
import { OutboxClosedError } from '../src/delivery/outbox/index.js'
import { startSimulator } from '../src/simulator/index.js'
import { doc, openOutbox, until } from './helpers/outbox.js'

const hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

t.test('close lets the upload in progress finish, starts no other, refuses new documents; the next open delivers the rest, each once', async t => {
  const sim = await startSimulator({ keepBodies: true })
  t.teardown(async () => { await sim.close() })
  const h = await openOutbox(t, sim.url, { start: false, outbox: { concurrency: 1 } })
  const { outbox } = h
  sim.inject('upload', { delayMs: 800 })
  const ids = []
  for (let i = 0; i < 3; i++) ids.push((await outbox.accept(doc(`c-${i}.edi`, `document ${i}`))).id)
  outbox.start()
  await until(() => sim.calls.upload === 1, 10_000, 'first upload')
  await outbox.close(10_000)
  t.equal((await outbox.get(ids[0]!, ''))?.state, 'delivered', 'the upload in progress finished')
  t.equal(sim.calls.upload, 1, 'no upload started after close')
  t.same(await h.files('queue'), [ids[1]!, `${ids[1]!}.json`, ids[2]!, `${ids[2]!}.json`].sort(), 'the rest stays on disk')
  await t.rejects(outbox.accept(doc('late.edi', 'too late')), OutboxClosedError)

  const again = await h.reopen()
  await until(async () => (await again.list('', 'delivered', { limit: 10 })).items.length === 3, 10_000, 'all delivered')
  t.same(sim.files().map(f => f.name).sort(), ['c-0.edi', 'c-1.edi', 'c-2.edi'])
})

t.test('close that times out aborts the upload; the next open reconciles it (CIC had it) instead of sending it again', async t => {
  const sim = await startSimulator({ keepBodies: true })
  t.teardown(async () => { await sim.close() })
  const h = await openOutbox(t, sim.url)
  sim.inject('upload', { delayMs: 5000 })
  const { id } = await h.outbox.accept(doc('slow.edi', 'stored, answered late'))
  await until(() => sim.files().length === 1, 10_000, 'CIC stored it')
  await h.outbox.close(200)
  t.not((await h.outbox.get(id, ''))?.state, 'delivered', 'no answer came before the abort')

  const again = await h.reopen()
  await until(async () => (await again.get(id, ''))?.state === 'delivered', 10_000, 'reconciled')
  t.equal(sim.calls.upload, 1, 'not uploaded again')
  t.equal(sim.files().length, 1)
  t.match(await again.get(id, ''), { attempts: 1, cic: { id: sim.files()[0]!.id } })
  t.ok(h.logs().some(l => l.event === 'outbox.delivered' && l.id === id && l.how === 'reconciled'))
})

t.test('an upload whose outcome is unknown is settled in the upload folder first: found -> delivered, no second copy; not found -> sent again', async t => {
  const sim = await startSimulator({ keepBodies: true })
  t.teardown(async () => { await sim.close() })
  const h = await openOutbox(t, sim.url)
  const { outbox } = h
  // CIC stores it, then the connection drops before the answer.
  sim.inject('upload', { drop: 'after-store' })
  const stored = await outbox.accept(doc('after-store.edi', 'stored, never answered'))
  await until(async () => (await outbox.get(stored.id, ''))?.state === 'delivered', 10_000, 'delivered')
  t.equal(sim.calls.upload, 1, 'found by reconciliation, not sent again')
  // The connection drops mid-body: CIC has nothing, so it is sent again.
  sim.inject('upload', { drop: 'mid-body' })
  const body = Buffer.alloc(64 * 1024, 9)
  const dropped = await outbox.accept(doc('mid-body.edi', body))
  await until(async () => (await outbox.get(dropped.id, ''))?.state === 'delivered', 10_000, 'delivered')
  t.equal(sim.calls.upload, 3)
  t.match(await outbox.get(dropped.id, ''), { attempts: 2 })
  t.same(sim.files().map(f => f.name), ['after-store.edi', 'mid-body.edi'])
  t.equal(sim.files()[1]!.sha256, hex(body))
})

t.test('a file of the same name another delivery put in CIC does not settle an unknown outcome (the document would be lost)', async t => {
  const sim = await startSimulator({ keepBodies: true, sameNamePolicy: 'rename' })
  t.teardown(async () => { await sim.close() })
  const h = await openOutbox(t, sim.url)
  const { outbox } = h
  const first = await outbox.accept(doc('same.edi', 'the first document'))
  await until(async () => (await outbox.get(first.id, ''))?.state === 'delivered', 10_000, 'first delivered')
  sim.inject('upload', { drop: 'mid-body' })
  const secondBody = Buffer.alloc(64 * 1024, 5)
  const second = await outbox.accept(doc('same.edi', secondBody))
  await until(async () => (await outbox.get(second.id, ''))?.state === 'delivered', 10_000, 'second delivered')
  const files = sim.files()
  t.same(files.map(f => f.name), ['same.edi', 'same (1).edi'], 'the second document reached CIC')
  t.equal(files[1]!.sha256, hex(secondBody))
  t.match(await outbox.get(second.id, ''), { cic: { id: files[1]!.id } })
})

t.test("CIC's Retry-After is honoured before the next attempt; the delay shows as nextAttemptAt", async t => {
  const sim = await startSimulator({ keepBodies: true })
  t.teardown(async () => { await sim.close() })
  const h = await openOutbox(t, sim.url, { env: { CIC_RETRIES: '0' }, outbox: { retry: { baseMs: 10, maxMs: 50 } } })
  const { outbox } = h
  sim.inject('upload', { status: 503, headers: { 'retry-after': '2' } })
  const { id } = await outbox.accept(doc('later.edi', 'after the Retry-After'))
  await until(async () => (await outbox.get(id, ''))?.lastError?.code === 'cic-unavailable', 10_000, 'refused once')
  const waiting = (await outbox.get(id, ''))!
  const refusedAt = sim.requests.find(r => r.operation === 'upload')!.at
  t.equal(waiting.state, 'queued')
  t.ok(Date.parse(waiting.nextAttemptAt!) - refusedAt >= 2000, 'next attempt after the Retry-After')
  await until(async () => (await outbox.get(id, ''))?.state === 'delivered', 10_000, 'delivered')
  const uploads = sim.requests.filter(r => r.operation === 'upload')
  t.equal(uploads.length, 2)
  t.ok(uploads[1]!.at - uploads[0]!.at >= 2000, 'not sent again before CIC said')
})

t.test('while CIC asks for a long pause, documents past the age limit still become failed (without calls to CIC)', async t => {
  const sim = await startSimulator({ keepBodies: true })
  t.teardown(async () => { await sim.close() })
  sim.inject('upload', { status: 503, headers: { 'retry-after': '120' }, times: 100 })
  const h = await openOutbox(t, sim.url, { env: { CIC_RETRIES: '0' }, outbox: { maxAgeMs: 1000, concurrency: 1 } })
  const { outbox } = h
  const ids = []
  for (let i = 0; i < 5; i++) ids.push((await outbox.accept(doc(`p-${i}.edi`, `paused ${i}`))).id)
  await until(async () => (await outbox.list('', 'failed', { limit: 10 })).items.length === 5, 15_000, 'all failed')
  for (const id of ids) t.match(await outbox.get(id, ''), { state: 'failed', lastError: { code: 'outbox-expired' } })
  t.equal(sim.calls.upload, 1, 'one refused upload paused the mailbox; the others failed without a call')
})
