// npm run soak: 10,000 uploads at concurrency 64 through a real gateway process, against
// the simulator injecting random faults (5% of all CIC calls). The caller follows the
// README's delivery contract with Idempotency-Keys. Prints what was attempted, what CIC
// holds, duplicates and losses (both must be 0), and the gateway's peak RSS.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import { spawnGateway } from '../test/helpers/process.js'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator } from '../src/simulator/index.js'

const DOCUMENTS = Number(process.env.SOAK_DOCUMENTS ?? 10_000)
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 64)
const FAULT_RATE = Number(process.env.SOAK_FAULT_RATE ?? 0.05)
const SEED = Number(process.env.SOAK_SEED ?? 20261128)
const MAX_TRIES = 30

/** Deterministic document bodies: 200 B to 48 KiB, like EDI interchanges. */
function body (i: number): Buffer {
  const size = 200 + ((i * 7919) % (48 * 1024))
  const b = Buffer.alloc(size, `ISA*${i}*`)
  b.write(`doc ${i}`, 0)
  return b
}

function sha256 (b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

interface Tally {
  requests: number
  created: number
  replayed: number
  retryable: Record<string, number>
  gaveUp: number
  unexpected: Record<string, number>
}

async function main (): Promise<void> {
  const sim = await startSimulator({
    keepBodies: false,
    // Rename makes a duplicate visible as "name (1).edi" instead of silently overwriting.
    sameNamePolicy: 'rename',
    tokenLifetimeSeconds: 120,
    // The simulator keeps every file in the upload folder (CIC routes them away): list 100 a page.
    pageSize: 100,
    randomFaults: { rate: FAULT_RATE, seed: SEED }
  })
  const gw = await spawnGateway({
    CIC_BASE_URL: sim.url,
    CIC_USERNAME: DEMO_USERNAME,
    CIC_PASSWORD: DEMO_PASSWORD,
    LOG_LEVEL: 'info',
    CIC_RETRY_BASE_DELAY_MS: '20',
    CIC_HEADERS_TIMEOUT_MS: '5000',
    CIRCUIT_HALF_OPEN_AFTER_SECONDS: '1',
    MAX_CONCURRENT_UPLOADS: String(CONCURRENCY * 2),
    SHUTDOWN_DELAY_SECONDS: '0'
  })
  const pid = gw.child.pid!
  const agent = new Agent({ connections: CONCURRENCY })
  const tally: Tally = { requests: 0, created: 0, replayed: 0, retryable: {}, gaveUp: 0, unexpected: {} }
  const confirmed = new Map<number, string>()
  const started = Date.now()

  async function deliver (i: number): Promise<void> {
    const data = body(i)
    for (let attempt = 1; attempt <= MAX_TRIES; attempt++) {
      tally.requests++
      let status: number
      let retryAfter = 0.1
      let type = ''
      try {
        const res = await request(`${gw.url}/documents?filename=soak-${i}.edi`, {
          method: 'POST',
          dispatcher: agent,
          body: data,
          headers: { 'content-type': 'application/octet-stream', 'idempotency-key': `soak-${i}` }
        })
        status = res.statusCode
        const text = await res.body.text()
        if (status === 201) {
          const replay = res.headers['idempotent-replayed']
          if (replay !== undefined) tally.replayed++
          tally.created++
          confirmed.set(i, JSON.parse(text).id as string)
          return
        }
        type = (JSON.parse(text) as { type?: string }).type?.replace('urn:cic-gateway:problem:', '') ?? String(status)
        retryAfter = Number(res.headers['retry-after'] ?? 0.1)
      } catch (err) {
        type = `transport:${(err as { code?: string }).code ?? 'error'}`
        status = 0
      }
      // The contract: 503/409 are safe to resend after Retry-After; 502/504 ("unknown") are resent
      // with the same Idempotency-Key, and the gateway settles whether CIC already holds it.
      if (status === 503 || status === 409 || status === 502 || status === 504 || status === 0) {
        tally.retryable[type] = (tally.retryable[type] ?? 0) + 1
        await sleep(Math.min(retryAfter, 2) * 1000)
        continue
      }
      tally.unexpected[`${status} ${type}`] = (tally.unexpected[`${status} ${type}`] ?? 0) + 1
      return
    }
    tally.gaveUp++
  }

  let next = 0
  let peakRss = 0
  const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, readRss(pid)) }, 200)
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < DOCUMENTS) await deliver(next++)
  }))
  clearInterval(rssTimer)
  peakRss = Math.max(peakRss, readPeakRss(pid))
  const seconds = (Date.now() - started) / 1000

  // What CIC holds, per logical document.
  const held = new Map<string, Array<{ name: string, sha256: string }>>()
  for (const f of sim.files()) {
    const list = held.get(f.requestedName) ?? []
    list.push({ name: f.name, sha256: f.sha256 })
    held.set(f.requestedName, list)
  }
  let duplicates = 0
  let lost = 0
  let corrupted = 0
  for (let i = 0; i < DOCUMENTS; i++) {
    const copies = held.get(`soak-${i}.edi`) ?? []
    if (copies.length === 0) lost++
    if (copies.length > 1) duplicates += copies.length - 1
    if (copies.some(c => c.sha256 !== sha256(body(i)))) corrupted++
  }
  const calls = sim.calls
  gw.child.kill('SIGTERM')
  const exit = await gw.exited
  await agent.close()
  await sim.close()

  const summary = {
    documents: DOCUMENTS,
    concurrency: CONCURRENCY,
    faultRate: FAULT_RATE,
    seed: SEED,
    seconds: Number(seconds.toFixed(1)),
    uploadsAttempted: tally.requests,
    created201: tally.created,
    of201Replayed: tally.replayed,
    retryableErrors: Object.values(tally.retryable).reduce((a, b) => a + b, 0),
    retryableByType: tally.retryable,
    unexpected: tally.unexpected,
    gaveUp: tally.gaveUp,
    cicCalls: calls,
    documentsHeldByCic: [...held.keys()].length,
    duplicates,
    lost,
    corrupted,
    gatewayPeakRssMiB: Number((peakRss / 1024 / 1024).toFixed(1)),
    gatewayExitCode: exit
  }
  console.log(JSON.stringify(summary, null, 2))
  const ok = duplicates === 0 && lost === 0 && corrupted === 0 && tally.gaveUp === 0 && Object.keys(tally.unexpected).length === 0
  console.log(ok ? 'SOAK PASSED: 0 lost, 0 duplicated' : 'SOAK FAILED')
  process.exit(ok ? 0 : 1)
}

function readRss (pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1]) * 1024
  } catch { return 0 }
}

function readPeakRss (pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1]) * 1024
  } catch { return 0 }
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
