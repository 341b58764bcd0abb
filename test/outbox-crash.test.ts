// The outbox's key proof (issue 14): a process holding the outbox receives a stream of
// documents while CIC is slow and is killed with SIGKILL at random moments, at every phase
// (receiving a body, just stored, uploading, CIC stored it but has not answered / just
// answered), and started again on the same directory each time. At the end every document
// it acknowledged is in CIC exactly once with the right bytes, and no delivered one is left
// in the queue. The simulator renames same-name uploads, so a duplicate shows as `x (1).edi`.
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { startSimulator, DEMO_PASSWORD } from '../src/simulator/index.js'
import { recordLog } from './helpers/log-scan.js'
import { runnerConfig, simConfig } from './helpers/outbox.js'

const RUNNER = fileURLToPath(new URL('./helpers/outbox-runner.ts', import.meta.url))
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const KILLS = 24
/** Processes started ahead, loading their modules while the current one runs (a start costs seconds on a busy machine). */
const AHEAD = 3
const PHASES = ['receiving', 'stored', 'uploading', 'answered'] as const
type Phase = typeof PHASES[number]

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const random = (min: number, max: number): number => min + Math.floor(Math.random() * (max - min))

class Runner {
  readonly child: ChildProcess
  readonly lines: string[] = []
  readonly closed: Promise<unknown>
  stderr = ''
  private readonly waiters = new Set<() => void>()

  constructor (env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--import', 'tsx', RUNNER], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString() })
    createInterface({ input: this.child.stdout! }).on('line', line => {
      this.lines.push(line)
      for (const w of this.waiters) w()
    })
    // 'close': the process is gone and every line it printed has been read.
    this.closed = once(this.child, 'close')
  }

  /** The first line (from index `from`) matching, or undefined after timeoutMs. */
  async line (match: (line: string) => boolean, timeoutMs: number, from = 0): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.lines.slice(from).find(match)
      if (found !== undefined) return found
      const left = deadline - Date.now()
      if (left <= 0 || this.child.exitCode !== null) return undefined
      await new Promise<void>(resolve => {
        const timer = setTimeout(done, left)
        const waiter = (): void => { done() }
        function done (): void { clearTimeout(timer); waiters.delete(waiter); resolve() }
        const waiters = this.waiters
        waiters.add(waiter)
      })
    }
  }

  async start (): Promise<number> {
    if (await this.line(l => l === 'ready', 30_000) === undefined) throw new Error(`runner not ready: ${this.stderr}`)
    this.child.stdin!.write('go\n')
    const listening = await this.line(l => l.startsWith('listening '), 30_000)
    if (listening === undefined) throw new Error(`runner did not listen: ${this.stderr}`)
    return Number(listening.split(' ')[1])
  }

  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
    await this.closed
  }
}

/** Sends a document; with `holdAfter`, sends that many bytes and then waits (the kill comes mid-body). */
function post (port: number, name: string, body: Buffer, holdAfter?: number): { sent: Promise<void> } {
  const req = request({ host: '127.0.0.1', port, method: 'POST', path: `/?name=${encodeURIComponent(name)}`, headers: { 'content-length': String(body.length) } })
  const sent = new Promise<void>(resolve => {
    req.on('response', res => { res.resume(); res.on('end', resolve); res.on('error', () => { resolve() }) })
    req.on('error', () => { resolve() })
  })
  if (holdAfter === undefined) req.end(body)
  else req.write(body.subarray(0, holdAfter))
  return { sent }
}

t.test(`${KILLS} SIGKILLs at every phase: each acknowledged document is in CIC exactly once with its bytes, none left in the queue`, async t => {
  const sim = await startSimulator({ keepBodies: false, sameNamePolicy: 'rename' })
  const dir = await mkdtemp(join(tmpdir(), 'cic-gateway-outbox-crash-'))
  const runners: Runner[] = []
  t.teardown(async () => {
    for (const r of runners) await r.kill()
    recordLog(t.fullname, [DEMO_PASSWORD], runners.map(r => r.stderr).join(''))
    await sim.close()
    await rm(dir, { recursive: true, force: true })
  })
  const env = { OUTBOX_DIR: dir, OUTBOX_RUNNER_CONFIG: runnerConfig(simConfig(sim.url, { CIC_RETRIES: '2' })), OUTBOX_CONCURRENCY: '2' }
  const spawnRunner = (): Runner => {
    const r = new Runner(env)
    runners.push(r)
    return r
  }

  const sent = new Map<string, Buffer>()
  const document = (name: string, size: number): Buffer => {
    const body = Buffer.alloc(size)
    for (let i = 0; i < size; i += 4096) body.write(`${name} ${i} ${Math.random()}\n`, i)
    sent.set(name, body)
    return body
  }
  const reached: Record<Phase, number> = { receiving: 0, stored: 0, uploading: 0, answered: 0 }
  let kills = 0

  // The next process loads its modules while the current one runs; it opens the outbox only once told to.
  const started = Date.now()
  const standby = Array.from({ length: AHEAD }, spawnRunner)
  for (let i = 0; i < KILLS; i++) {
    const runner = standby.shift()!
    if (process.env.OUTBOX_CRASH_DEBUG !== undefined) console.error(`cycle ${i} at ${Date.now() - started} ms`)
    const port = await runner.start()
    if (process.env.OUTBOX_CRASH_DEBUG !== undefined) console.error(`  listening at ${Date.now() - started} ms`)
    standby.push(spawnRunner())
    sim.clearFaults()
    const phase = PHASES[i % PHASES.length]!
    const since = Date.now()
    const filesBefore = sim.files().length
    // Documents in the background, whatever the phase.
    for (let j = 0; j < 2; j++) post(port, `bg-${i}-${j}.edi`, document(`bg-${i}-${j}.edi`, random(200, 40_000)))
    switch (phase) {
      case 'receiving': {
        post(port, `rx-${i}.edi`, document(`rx-${i}.edi`, 512 * 1024), random(1, 256 * 1024))
        await sleep(random(20, 200))
        reached.receiving++
        break
      }
      case 'stored': {
        const name = `st-${i}.edi`
        post(port, name, document(name, random(100, 100_000)))
        if (await runner.line(l => l.startsWith('accepted ') && l.endsWith(` ${name}`), 5000) !== undefined) reached.stored++
        break
      }
      case 'uploading': {
        // CIC reads the first chunk of the next upload, then stalls: killed mid-upload.
        sim.inject('upload', { stallBody: true, delayMs: 3000 })
        post(port, `up-${i}.edi`, document(`up-${i}.edi`, 768 * 1024))
        const stalled = await waitFor(() => sim.requests.some(r => r.operation === 'upload' && r.at >= since && r.fault?.stallBody === true), 5000)
        await sleep(random(0, 150))
        // The stalled upload cannot complete before the stall ends (3 s): killed mid-body.
        if (stalled) reached.uploading++
        break
      }
      case 'answered': {
        // CIC stores the next upload, then answers late (or soon): killed before or around the answer.
        const late = i % 8 === 3
        sim.inject('upload', { delayMs: late ? 3000 : 150 })
        post(port, `an-${i}.edi`, document(`an-${i}.edi`, random(1000, 200_000)))
        const stored = await waitFor(() => sim.requests.some(r => r.operation === 'upload' && r.at >= since && r.fault?.delayMs !== undefined && r.fault.stallBody !== true) && sim.files().length > filesBefore, 5000)
        if (!late) await sleep(random(100, 250))
        if (stored) reached.answered++
        break
      }
    }
    if (process.env.OUTBOX_CRASH_DEBUG !== undefined) console.error(`  ${phase} done at ${Date.now() - started} ms`)
    await runner.kill()
    kills++
  }

  // The last start: everything acknowledged gets delivered, then a clean shutdown.
  const last = standby.shift()!
  for (const r of standby) await r.kill()
  await last.start()
  const acknowledged = (): Map<string, { id: string, sha256: string }> => {
    const acked = new Map<string, { id: string, sha256: string }>()
    for (const r of runners) {
      for (const l of r.lines) {
        const [word, id, sha256, name] = l.split(' ')
        if (word === 'accepted' && id !== undefined && sha256 !== undefined && name !== undefined) acked.set(name, { id, sha256 })
      }
    }
    return acked
  }
  const drained = await waitFor(async () => {
    const inCic = new Set(sim.files().map(f => f.requestedName))
    return [...acknowledged().keys()].every(n => inCic.has(n)) && (await readdir(join(dir, 'queue'))).length === 0
  }, 30_000)
  await last.kill('SIGTERM')
  t.equal(last.child.exitCode, 0, 'the last process shut down cleanly')
  t.ok(drained, 'the queue drained')

  const acked = acknowledged()
  t.ok(kills >= 20, `${kills} kills`)
  for (const phase of PHASES) t.ok(reached[phase] >= 3, `killed while ${phase}: ${reached[phase]} times`)
  t.ok(acked.size >= KILLS, `${acked.size} documents acknowledged`)
  const files = sim.files()
  let exact = 0
  for (const [name, { id, sha256 }] of acked) {
    const body = sent.get(name)!
    t.equal(sha256, createHash('sha256').update(body).digest('base64'), `${name}: acknowledged with its SHA-256`)
    const copies = files.filter(f => f.requestedName === name)
    if (copies.length === 1 && copies[0]!.sha256 === createHash('sha256').update(body).digest('hex')) exact++
    else t.fail(`${name} (${id}): ${copies.length} copies in CIC (${copies.map(c => c.name).join(', ')})`)
    const record = JSON.parse(await readFile(join(dir, 'done', `${id}.json`), 'utf8')) as { state: string }
    if (record.state !== 'delivered') t.fail(`${name}: its record says ${record.state}`)
  }
  t.equal(exact, acked.size, 'every acknowledged document in CIC exactly once, with its bytes')
  // Documents never acknowledged (killed while receiving) may or may not have been kept, but never twice.
  for (const name of sent.keys()) {
    const copies = files.filter(f => f.requestedName === name).length
    if (copies > 1) t.fail(`${name}: ${copies} copies in CIC`)
  }
  t.same(files.filter(f => f.name !== f.requestedName).map(f => f.name), [], 'no renamed duplicate in CIC')
  t.same(await readdir(join(dir, 'queue')), [], 'no delivered document left in the queue')
  t.same(await readdir(join(dir, 'tmp')), [])
  t.same(await readdir(join(dir, 'corrupt')), [], 'a SIGKILL never leaves a torn record')
})

async function waitFor (check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) return false
    await sleep(10)
  }
  return true
}
