// Disk full while storing: the outbox on a real 1 MiB tmpfs, so the kernel answers ENOSPC.
// Mounting needs root (CAP_SYS_ADMIN); elsewhere the test is skipped and says so.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { OutboxStorageError } from '../src/delivery/outbox/index.js'
import { startSimulator } from '../src/simulator/index.js'
import { postDocument } from './helpers/http.js'
import { doc, openOutbox, until } from './helpers/outbox.js'
import { startStack } from './helpers/stack.js'

const hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

async function smallDisk (): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'cic-gateway-outbox-full-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', dir], { stdio: 'ignore' })
    return dir
  } catch {
    await rm(dir, { recursive: true, force: true })
    return undefined
  }
}

const mounted = await smallDisk()
const skip = mounted === undefined ? 'cannot mount a 1 MiB tmpfs (needs root): the disk-full test did not run' : false

t.test('ENOSPC while storing: OutboxStorageError, the partial files removed (their room freed), what was accepted before unharmed and delivered', { skip }, async t => {
  const disk = mounted!
  const sim = await startSimulator({ keepBodies: true })
  t.teardown(async () => {
    await sim.close()
    try { execFileSync('umount', [disk], { stdio: 'ignore' }) } catch {}
    await rm(disk, { recursive: true, force: true })
  })
  const dir = join(disk, 'outbox')
  // Capacity far above the disk: the disk, not the capacity check, refuses.
  const h = await openOutbox(t, sim.url, { dir, start: false, outbox: { maxBytes: 64 * 1024 * 1024 } })
  const { outbox } = h
  const first = Buffer.alloc(300 * 1024, 1)
  const kept = await outbox.accept(doc('kept.edi', first))

  const big = Buffer.alloc(2 * 1024 * 1024, 2)
  const declared = await outbox.accept(doc('big.edi', big)).catch((err: unknown) => err)
  t.type(declared, OutboxStorageError)
  t.equal((declared as OutboxStorageError).code, 'ENOSPC')
  const chunked = { ...doc('chunked.edi', Buffer.alloc(0), { declare: false }), source: Readable.from(Array.from({ length: 32 }, () => Buffer.alloc(64 * 1024, 3))) }
  const streamed = await outbox.accept(chunked).catch((err: unknown) => err)
  t.type(streamed, OutboxStorageError)
  t.equal((streamed as OutboxStorageError).code, 'ENOSPC')

  // Nothing partial left: only the first document's body and record.
  t.same(await h.files('queue'), [kept.id, `${kept.id}.json`])
  t.same(await h.files('tmp'), [])
  t.equal(outbox.bytesInUse, first.length)
  // The room the partial files took is free again: a document that fits is accepted.
  const second = Buffer.alloc(400 * 1024, 4)
  const after = await outbox.accept(doc('after.edi', second))

  outbox.start()
  await until(async () => (await outbox.get(kept.id, ''))?.state === 'delivered' && (await outbox.get(after.id, ''))?.state === 'delivered', 10_000, 'delivered')
  t.same(sim.files().map(f => [f.name, f.sha256]).sort(), [['after.edi', hex(second)], ['kept.edi', hex(first)]])
})

t.test('over HTTP: a disk that refuses the document answers 503 outbox-unavailable, delivered: no, with Retry-After; the documents kept before are delivered', { skip }, async t => {
  const disk = await smallDisk()
  if (disk === undefined) return t.fail('the second tmpfs could not be mounted')
  t.teardown(async () => {
    try { execFileSync('umount', [disk], { stdio: 'ignore' }) } catch {}
    await rm(disk, { recursive: true, force: true })
  })
  // Capacity far above the disk: the disk, not the capacity check, refuses.
  const stack = await startStack(t, { env: { OUTBOX_DIR: join(disk, 'outbox'), OUTBOX_MAX_BYTES: String(64 * 1024 * 1024) } })
  const first = Buffer.alloc(300 * 1024, 1)
  const kept = await postDocument(stack.url, 'kept.edi', first, { prefer: 'respond-async' })
  t.equal(kept.status, 202)
  const refused = await postDocument(stack.url, 'big.edi', Buffer.alloc(2 * 1024 * 1024, 2), { prefer: 'respond-async' })
  t.equal(refused.status, 503)
  t.match(refused.headers['content-type'], /^application\/problem\+json/)
  t.ok(Number(refused.headers['retry-after']) > 0)
  t.match(refused.json(), { type: 'urn:cic-gateway:problem:outbox-unavailable', delivered: 'no' })
  t.notMatch(JSON.stringify(refused.json()), /ENOSPC|\/tmp\//, 'no file-system detail or path in the answer')
  await until(() => stack.sim.files().some(f => f.name === 'kept.edi'), 10_000, 'the kept document delivered')
  t.same(stack.sim.files().map(f => [f.name, f.sha256]), [['kept.edi', hex(first)]], 'the refused one never reached CIC')
})
