// Two real gateway processes on one Redis: the owner of a keyed upload dies (SIGKILL) and
// its lease lapses; the other replica settles the key with exactly one copy in CIC.
import t from 'tap'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { postDocument } from './helpers/http.js'
import { copies, startReplicas } from './helpers/replicas.js'

const MiB = 1024 * 1024

/** Waits for a condition, failing (not hanging) after 60 s. */
async function until (check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await sleep(50)
  }
}

/** A 64 MiB body paced so that the upload is still running when the owner is killed. */
function pacedBody (total: number): Readable {
  let sent = 0
  const chunk = Buffer.alloc(MiB, 'k')
  return new Readable({
    read () {
      if (sent >= total) { this.push(null); return }
      sent += chunk.length
      setTimeout(() => this.push(chunk), 5)
    }
  })
}

for (const cicGotIt of [true, false]) {
  t.test(`SIGKILL of the owner during a keyed 64 MiB upload, then a repeat on the other replica after the lease: one copy in CIC (CIC ${cicGotIt ? 'got it' : 'did not'})`, async t => {
    const { sim, a, b } = await startReplicas(t)
    t.equal((await postDocument(a.url, 'warm.edi', 'w')).status, 201)
    const total = 64 * MiB
    const body = Buffer.alloc(total, 'k')
    // CIC got it: stored, but its answer held back. CIC did not: it stops reading mid-body.
    sim.inject('upload', cicGotIt ? { delayMs: 30_000 } : { delayMs: 30_000, stallBody: true })
    const uploadsBefore = sim.calls.upload
    const owner = postDocument(a.url, 'big.edi', pacedBody(total), { 'idempotency-key': 'k-big', 'content-length': String(total) }).catch(() => undefined)
    if (cicGotIt) {
      await until(() => sim.files().some(f => f.name === 'big.edi'), 'CIC stored the body')
    } else {
      await until(() => sim.calls.upload > uploadsBefore, 'the upload started')
      await sleep(300)
    }
    a.child.kill('SIGKILL')
    await owner
    // While the lease runs the key is held: the other replica answers 409.
    const during = await postDocument(b.url, 'big.edi', body, { 'idempotency-key': 'k-big' })
    t.equal(during.status, 409, 'the dead owner\'s lease still holds the key')
    sim.clearFaults()
    await sleep(2500)
    const repeat = await postDocument(b.url, 'big.edi', body, { 'idempotency-key': 'k-big' })
    t.equal(repeat.status, 201, repeat.text)
    if (cicGotIt) t.equal(repeat.headers['idempotent-replayed'], 'reconciled', 'found in the upload folder')
    else t.equal(repeat.headers['idempotent-replayed'], undefined, 'not in CIC: uploaded once')
    t.equal(copies(sim, 'big.edi'), 1, 'exactly one copy in CIC')
    t.equal(sim.files().find(f => f.name === 'big.edi')?.size, total)
  })
}
