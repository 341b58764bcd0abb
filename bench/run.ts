// npm run bench: the gateway measured side by side with a direct upload, a generic proxy,
// a bare Node relay and nginx, on one upstream, in one run. Writes bench/results/<time>.json (and
// latest.json), then docs/benchmarks.md and docs/benchmarks.svg (bench/report.ts).
//
// Every party is its own process: the upstream (bench/upstream.ts), the proxy under test,
// and the load generator (bench/load.ts, autocannon or a streaming client). This process
// only starts them and reads /proc between runs (and RSS every 100 ms during large uploads).
//
// Env knobs: BENCH_ROUNDS (3), BENCH_DURATION (5 s per load point), BENCH_WARMUP (2 s),
// BENCH_ONLY (comma list of workload ids), BENCH_NO_REPORT=1, BENCH_RESULTS_DIR (bench/results;
// another directory keeps a trial run out of the recorded ones). The keyed workload (keyed-32)
// starts its own redis-server (bench/redis.ts; REDIS_SERVER names another binary). The
// store-and-forward workload (async-32) puts its gateway's outbox under BENCH_OUTBOX_PARENT
// (os.tmpdir() by default: it must be a real disk, not tmpfs) and waits at most
// BENCH_DRAIN_TIMEOUT (90 s) for the outbox to empty after each async run.
import { execSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { BENCH_PASSWORD, BENCH_USERNAME } from './credentials.js'
import type { ColdResult, RateJob, RateResult, StreamJob, StreamResult } from './jobs.js'
import { EnvSchema } from '../src/config/env-schema.js'
import { BENCH, compiledNode, cpuSeconds, filesystemOf, getJson, imageAllocatorEnv, memory, ROOT, runLoad, sleep, start, tsNode, watchMemory, type Memory, type Proc } from './lib.js'
import { nginxBinary, startNginx, type Nginx } from './nginx.js'
import { REDIS_SERVER, startRedis } from './redis.js'
import { asyncRatio, deliveryRate, rateRatio, writeReport } from './report.js'
import { SCENARIOS, WORKLOADS, type AsyncOutcome, type BenchResults, type ColdOutcome, type DrainResult, type RateOutcome, type Scenario, type StreamOutcome, type Workload } from './results.js'
import type { UpstreamStats } from './upstream.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const DURATION = Number(process.env.BENCH_DURATION ?? 5)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2)
const ONLY = process.env.BENCH_ONLY?.split(',').filter(Boolean)
const DRAIN_TIMEOUT_MS = Number(process.env.BENCH_DRAIN_TIMEOUT ?? 90) * 1000
const API_KEY = 'bench-caller-key-0123456789abcdef'
const FILENAME = 'attachment; filename=bench_850.edi'

interface Target {
  scenario: Scenario
  url: string
  headers: Record<string, string>
  /** The relaying process, for memory readings (none for direct). */
  pid?: number
  stop: () => Promise<void>
}

function log (message: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`)
}

function wanted (id: string): boolean {
  return ONLY === undefined || ONLY.includes(id)
}

async function login (baseUrl: string): Promise<{ token: string, uploadPath: string }> {
  const form = new URLSearchParams({ grant_type: 'password', username: BENCH_USERNAME, password: BENCH_PASSWORD })
  const { access_token: token } = await getJson<{ access_token: string }>(`${baseUrl}/api/authentication`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() })
  const auth = { authorization: `Bearer ${token}` }
  const home = await getJson<{ resources: Array<{ id: string }> }>(`${baseUrl}/api/folders`, { headers: auth })
  const children = await getJson<{ resources: Array<{ id: string, subspace?: string }> }>(`${baseUrl}/api/folders/${home.resources[0]!.id}/children`, { headers: auth })
  return { token, uploadPath: `/api/folders/${children.resources.find(r => r.subspace === 'upload')!.id}/files` }
}

async function startUpstream (): Promise<Proc> {
  return await start({ name: 'upstream', ...tsNode('upstream.ts'), isReady: l => l.event === 'listening' })
}

async function startGateway (upstream: string, tmp: string, nodeArgs: string[] = [], env: Record<string, string> = {}): Promise<{ proc: Proc, target: Target, callerAuth: boolean }> {
  const proc = await start({
    name: 'gateway',
    command: process.execPath,
    args: [...nodeArgs, join(ROOT, 'dist/main.js')],
    env: {
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: '0',
      CIC_BASE_URL: upstream,
      CIC_USERNAME: BENCH_USERNAME,
      CIC_PASSWORD: BENCH_PASSWORD,
      // Caller authentication (issue 4): the key the load generator presents.
      GATEWAY_API_KEYS: API_KEY,
      SPOOL_DIR: join(tmp, 'spool'),
      // Stopped between workloads, never behind a load balancer: no 5 s wait before closing.
      SHUTDOWN_DELAY_SECONDS: '0',
      ...imageAllocatorEnv(),
      ...env
    },
    isReady: l => l.event === 'start'
  })
  const url = String(proc.ready.address)
  // Auth is on when a request without the key is refused.
  const probe = await fetch(`${url}/documents?filename=probe.edi`, { method: 'POST', body: '' })
  return { proc, callerAuth: probe.status === 401, target: { scenario: 'gateway', url: `${url}/documents`, headers: { authorization: `Bearer ${API_KEY}`, 'content-disposition': FILENAME }, pid: proc.pid, stop: proc.stop } }
}

/**
 * A reference relay (generic-proxy.ts or bare-relay.ts), compiled, with the token and the
 * upload path it injects.
 */
async function startReference (scenario: 'generic-proxy' | 'bare-node', upstream: string, uploadPath: string, token: string): Promise<Target> {
  const proc = await start({
    name: scenario,
    ...compiledNode(scenario === 'generic-proxy' ? 'generic-proxy.ts' : 'bare-relay.ts'),
    env: { NODE_ENV: 'production', BENCH_UPSTREAM_URL: upstream, BENCH_UPLOAD_PATH: uploadPath, BENCH_CIC_TOKEN: token, PORT: '0' },
    isReady: l => l.event === 'listening'
  })
  return { scenario, url: `${String(proc.ready.url)}/documents`, headers: { 'content-disposition': FILENAME }, pid: proc.pid, stop: proc.stop }
}

async function startNginxTarget (tmp: string, upstream: string, uploadPath: string, token: string): Promise<{ target: Target, nginx: Nginx } | undefined> {
  const nginx = await startNginx({ dir: join(tmp, `nginx-${Date.now()}`), upstream, uploadPath, token })
  if (nginx === undefined) return undefined
  return { nginx, target: { scenario: 'nginx', url: `${nginx.url}/documents`, headers: { 'content-disposition': FILENAME }, pid: nginx.workerPid, stop: nginx.stop } }
}

function perRequest (before: number | undefined, pid: number | undefined, requests: number): number | undefined {
  if (before === undefined || pid === undefined || requests === 0) return undefined
  const after = cpuSeconds(pid)
  return after === undefined ? undefined : (after - before) / requests * 1e6
}

function median (values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** The round with the median rate stands for the scenario; every round is kept. */
function summarize (samples: RateResult[]): RateOutcome {
  const rps = median(samples.map(s => s.rps))
  const representative = samples.reduce((best, s) => Math.abs(s.rps - rps) < Math.abs(best.rps - rps) ? s : best)
  const cpu = samples.map(s => s.relayCpuUs).filter((v): v is number => v !== undefined)
  return { rps, p50: median(samples.map(s => s.latencyMs.p50)), p99: median(samples.map(s => s.latencyMs.p99)), mbps: median(samples.map(s => s.mbps)), relayCpuUs: cpu.length > 0 ? median(cpu) : undefined, loadCpuUs: median(samples.map(s => s.loadCpuSec / s.ok * 1e6)), failed: samples.reduce((n, s) => n + s.non2xx + s.errors + s.timeouts, 0), representative, samples }
}

interface RoundHooks<N extends string> {
  /** Another process whose CPU per request is read each round (Redis). */
  extra?: { pid: number, onRound: (name: N, cpuUs: number | undefined) => void }
  /** The in-run warm-up of the first round (WARMUP by default; 0 when the sides were warmed up already). */
  warmupSec?: number
  /** Before a side's load starts, and after it ended and its CPU was read (an outbox drained). */
  before?: (name: N) => Promise<void>
  after?: (name: N, result: RateResult) => Promise<void>
}

/**
 * ROUNDS rounds of the workload on every side, the order rotated each round (so no side
 * always runs first or last; the sides of one round run back to back), each a fresh load
 * generator process; the relay's and upstream's CPU per request from /proc. Returns every
 * round's result per side.
 */
async function measureRounds<N extends string> (workload: Workload, sides: Array<{ name: N, target: Target, idReplacement?: boolean }>, upstream: Proc, hooks: RoundHooks<N> = {}): Promise<Map<N, RateResult[]>> {
  const samples = new Map<N, RateResult[]>(sides.map(s => [s.name, []]))
  const { extra } = hooks
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < sides.length; i++) {
      const { name, target, idReplacement } = sides[(i + round) % sides.length]!
      const job: RateJob = { kind: 'rate', url: target.url, headers: target.headers, bodyBytes: workload.bodyBytes, connections: workload.connections, durationSec: Math.min(DURATION, workload.durationSec ?? DURATION), warmupSec: round === 0 ? hooks.warmupSec ?? WARMUP : 0, ...(idReplacement === true ? { idReplacement } : {}) }
      await hooks.before?.(name)
      const cpu0 = { relay: target.pid !== undefined ? cpuSeconds(target.pid) : undefined, upstream: cpuSeconds(upstream.pid), extra: extra !== undefined ? cpuSeconds(extra.pid) : undefined }
      const r = await runLoad<RateResult>(job)
      const served = r.ok + r.non2xx + r.warmupRequests
      r.relayCpuUs = perRequest(cpu0.relay, target.pid, served)
      r.upstreamCpuUs = perRequest(cpu0.upstream, upstream.pid, served)
      if (extra !== undefined) extra.onRound(name, perRequest(cpu0.extra, extra.pid, served))
      samples.get(name)!.push(r)
      log(`${workload.id} round ${round + 1} ${name}: ${r.rps.toFixed(0)} req/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, CPU µs/request: relay ${r.relayCpuUs?.toFixed(0) ?? '-'}, upstream ${r.upstreamCpuUs?.toFixed(0) ?? '-'}, load generator ${(r.loadCpuSec / r.ok * 1e6).toFixed(0)}${r.non2xx + r.errors + r.timeouts > 0 ? `, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts` : ''}`)
      await hooks.after?.(name, r)
    }
  }
  return samples
}

/** What the gateway's /metrics says of its outbox (and of the 202s it sent). */
interface OutboxReading {
  accepted: number
  delivered: number
  /** Queued or delivering. */
  queued: number
  failed: number
  storedBytes: number
}

async function outboxReading (gatewayBase: string): Promise<OutboxReading> {
  const res = await fetch(`${gatewayBase}/metrics`)
  if (!res.ok) throw new Error(`GET ${gatewayBase}/metrics: ${res.status}`)
  const text = await res.text()
  const sum = (name: string, label?: string): number => {
    let total = 0
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
      if (label === undefined || (m[1] ?? '').includes(label)) total += Number(m[2])
    }
    return total
  }
  return {
    accepted: sum('cic_gateway_documents_total', 'outcome="accepted"'),
    delivered: sum('cic_gateway_outbox_delivered_total'),
    queued: sum('cic_gateway_outbox_queued_documents'),
    failed: sum('cic_gateway_outbox_failed_documents'),
    storedBytes: sum('cic_gateway_outbox_stored_bytes')
  }
}

/** The upstream's counters once they stop moving (an upload of the run before may still be landing). */
async function settledStats (upstreamUrl: string): Promise<UpstreamStats> {
  let last = await getJson<UpstreamStats>(`${upstreamUrl}/_bench/stats`)
  for (let i = 0; i < 20; i++) {
    await sleep(100)
    const next = await getJson<UpstreamStats>(`${upstreamUrl}/_bench/stats`)
    if (next.uploads === last.uploads) return next
    last = next
  }
  return last
}

/**
 * One gateway with OUTBOX_DIR on a real disk, in the same rounds: synchronous requests
 * (no Prefer header: the baseline) and `Prefer: respond-async`, every answer of which must
 * be 202. After each async run the bench waits until the outbox is empty and every
 * document it accepted reached the upstream exactly once, and times that drain: the
 * delivery rate from a backlog, at the gateway's default OUTBOX_CONCURRENCY.
 */
async function measureAsync (workload: Workload, upstream: Proc, tmp: string, procs: Array<{ stop: () => Promise<void> }>): Promise<AsyncOutcome> {
  const parent = process.env.BENCH_OUTBOX_PARENT ?? tmp
  const dir = mkdtempSync(join(parent, 'outbox-'))
  const fs = filesystemOf(dir)
  const maxBytes = 2 ** 30
  // Not set for the gateway: its own default, read from its environment schema.
  const concurrency = Number((EnvSchema.properties.OUTBOX_CONCURRENCY as { default?: unknown }).default)
  const onTmpfs = fs === undefined || fs.type === 'tmpfs' || fs.type === 'ramfs'
  log(`${workload.id}: outbox in ${dir} on ${fs?.source ?? '?'} (${fs?.type ?? 'file system unknown'})${onTmpfs ? ': NOT A DISK, fsync costs nothing there and the intake figure is not a disk\'s (BENCH_OUTBOX_PARENT names another directory)' : ''}; OUTBOX_MAX_BYTES ${maxBytes}, OUTBOX_CONCURRENCY ${concurrency} (the gateway's default)`)
  const gw = await startGateway(String(upstream.ready.url), tmp, [], { OUTBOX_DIR: dir, OUTBOX_MAX_BYTES: String(maxBytes) })
  procs.push(gw.proc)
  try {
    return await measureOutbox(workload, upstream, gw, { fs, maxBytes, concurrency })
  } finally {
    // Stopped first, also when a check failed: a running gateway would write into the directory being removed.
    await gw.proc.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function measureOutbox (workload: Workload, upstream: Proc, gw: { proc: Proc, target: Target }, outbox: { fs: ReturnType<typeof filesystemOf>, maxBytes: number, concurrency: number }): Promise<AsyncOutcome> {
  const upstreamUrl = String(upstream.ready.url)
  const { fs, maxBytes, concurrency } = outbox
  const gatewayBase = String(gw.proc.ready.address)
  const sides = [
    { name: 'sync' as const, target: gw.target },
    { name: 'async' as const, target: { ...gw.target, headers: { ...gw.target.headers, prefer: 'respond-async' } } }
  ]
  const drains: DrainResult[] = []
  let start: { stats: UpstreamStats, reading: OutboxReading } | undefined
  const before = async (name: 'sync' | 'async'): Promise<void> => {
    if (name !== 'async') return
    const stats = await settledStats(upstreamUrl)
    const reading = await outboxReading(gatewayBase)
    if (reading.queued !== 0 || reading.storedBytes !== 0) throw new Error(`${workload.id}: the outbox is not empty before an async run (${reading.queued} queued, ${reading.storedBytes} bytes)`)
    start = { stats, reading }
  }
  const after = async (name: 'sync' | 'async', r: RateResult): Promise<DrainResult | undefined> => {
    if (name !== 'async') return undefined
    const { stats: s0, reading: m0 } = start!
    const s1 = await getJson<UpstreamStats>(`${upstreamUrl}/_bench/stats`)
    const t1 = performance.timeOrigin + performance.now()
    const cpu1 = cpuSeconds(gw.proc.pid)
    const m1 = await outboxReading(gatewayBase)
    // Every answer must be 202 (a 201 would be the preference ignored, a 503 the outbox full).
    const other = Object.entries(r.statuses ?? {}).filter(([status]) => status !== '202')
    const seen = r.statuses?.['202'] ?? 0
    if (other.length > 0 || r.errors > 0 || r.timeouts > 0) throw new Error(`${workload.id}: async answers other than 202: ${JSON.stringify(Object.fromEntries(other))}, ${r.errors} errors, ${r.timeouts} timeouts (of ${seen} 202s)`)
    // Drained: nothing queued or delivering, no bytes held, every delivery counted at the upstream.
    let s = s1
    let m = m1
    const deadline = Date.now() + DRAIN_TIMEOUT_MS
    while (!(m.queued === 0 && m.storedBytes === 0 && s.uploads - s0.uploads === m.delivered - m0.delivered)) {
      if (Date.now() > deadline) throw new Error(`${workload.id}: the outbox did not drain within ${DRAIN_TIMEOUT_MS / 1000} s: ${m.queued} queued, ${m.failed} failed, ${s.uploads - s0.uploads} of ${m.accepted - m0.accepted} accepted documents at the upstream`)
      await sleep(100)
      s = await getJson<UpstreamStats>(`${upstreamUrl}/_bench/stats`)
      // The gateway is asked only once the upstream has about everything (its /metrics costs it CPU).
      if (s.uploads - s0.uploads >= m1.accepted - m0.accepted) m = await outboxReading(gatewayBase)
    }
    const cpu2 = cpuSeconds(gw.proc.pid)
    const uploads = s.uploads - s0.uploads
    const accepted = m.accepted - m0.accepted
    if (m.failed !== 0) throw new Error(`${workload.id}: ${m.failed} deliveries failed in the outbox`)
    if (uploads < seen) throw new Error(`${workload.id}: the caller got ${seen} 202s but only ${uploads} documents reached the upstream`)
    if (accepted !== uploads) log(`${workload.id}: note: the gateway counted ${accepted} accepted, the upstream ${uploads} uploads (a request cut by the load generator's stop)`)
    const delivered = s.uploads - s1.uploads
    const drainSec = delivered > 0 ? (s.lastUploadAt - t1) / 1000 : 0
    const drain: DrainResult = {
      accepted,
      deliveredDuringIntake: s1.uploads - s0.uploads,
      intakeSec: r.durationSec + (r.warmupRequests > 0 ? WARMUP : 0),
      backlog: m1.queued,
      backlogBytes: m1.storedBytes,
      delivered,
      drainSec,
      rate: drainSec > 0 ? delivered / drainSec : undefined,
      cpuUsPerDelivery: cpu1 !== undefined && cpu2 !== undefined && delivered > 0 ? (cpu2 - cpu1) / delivered * 1e6 : undefined
    }
    log(`${workload.id} drain: ${accepted} accepted, ${drain.deliveredDuringIntake} delivered while accepting, backlog ${drain.backlog} documents (${(drain.backlogBytes / 2 ** 20).toFixed(1)} MiB of ${maxBytes / 2 ** 20} MiB), then ${delivered} delivered in ${drainSec.toFixed(1)} s: ${drain.rate?.toFixed(0) ?? '-'} documents/s, gateway CPU µs per delivery ${drain.cpuUsPerDelivery?.toFixed(0) ?? '-'}`)
    return drain
  }
  // Warm-up of both sides (JIT, the outbox's directories, the delivery path), not recorded:
  // the synchronous side as long as the keyed workload's sides (it leaves nothing behind),
  // the async side half the usual length and drained, since every document it accepts must
  // then be delivered.
  for (const side of sides) {
    await before(side.name)
    const warm = await runLoad<RateResult>({ kind: 'rate', url: side.target.url, headers: side.target.headers, bodyBytes: workload.bodyBytes, connections: workload.connections, durationSec: side.name === 'sync' ? WARMUP * 2 : WARMUP / 2, warmupSec: 0 } satisfies RateJob)
    await after(side.name, warm)
  }
  const samples = await measureRounds(workload, sides, upstream, {
    warmupSec: 0,
    before,
    after: async (name, r) => { const drain = await after(name, r); if (drain !== undefined) drains.push(drain) }
  })
  return {
    outbox: { filesystem: fs?.type ?? 'unknown', source: fs?.source ?? 'unknown', maxBytes, concurrency, concurrencyIsDefault: true },
    durationSec: Math.min(DURATION, workload.durationSec ?? DURATION),
    sides: Object.fromEntries([...samples].map(([s, list]) => [s, summarize(list)])),
    drains
  }
}

async function main (): Promise<void> {
  const began = Date.now()
  const tmp = mkdtempSync(join(tmpdir(), 'cic-bench-'))
  const procs: Array<{ stop: () => Promise<void> }> = []
  const results: BenchResults = {
    startedAt: new Date(began).toISOString(),
    finishedAt: '',
    durationSec: 0,
    machine: { node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), loadavgAtStart: loadavg() },
    commit: gitCommit(),
    settings: { rounds: ROUNDS, durationSec: DURATION, warmupSec: WARMUP },
    callerAuth: false,
    nginx: { available: false, note: 'nginx not on PATH: scenario skipped (Debian: apt-get install nginx)' },
    upstream: { kind: 'bench/upstream.ts, a minimal CIC sink (login JWT, folder envelopes, 201 file resource; bodies counted and dropped)' },
    rate: {},
    stream: {},
    cold: undefined
  }
  try {
    log(`upstream: starting (${ROUNDS} rounds x ${DURATION} s per load point, ${WARMUP} s warm-up)`)
    const upstream = await startUpstream()
    procs.push(upstream)
    const upstreamUrl = String(upstream.ready.url)
    const { token, uploadPath } = await login(upstreamUrl)
    const direct: Target = { scenario: 'direct', url: `${upstreamUrl}${uploadPath}`, headers: { authorization: `Bearer ${token}`, 'content-disposition': FILENAME }, stop: async () => {} }

    // Is the simulator fast enough to be the upstream? Measured, for the record.
    if (wanted('simulator-check')) results.upstream.simulatorCheck = await simulatorCheck()

    const rateWorkloads = WORKLOADS.filter(w => w.kind === 'rate' && wanted(w.id))
    if (rateWorkloads.length > 0) {
      log('rate workloads: starting gateway, generic proxy, bare Node relay, nginx')
      const gw = await startGateway(upstreamUrl, tmp)
      procs.push(gw.proc)
      results.callerAuth = gw.callerAuth
      const generic = await startReference('generic-proxy', upstreamUrl, uploadPath, token)
      procs.push(generic)
      const bare = await startReference('bare-node', upstreamUrl, uploadPath, token)
      procs.push(bare)
      const ngx = await startNginxTarget(tmp, upstreamUrl, uploadPath, token)
      if (ngx !== undefined) {
        procs.push(ngx.target)
        results.nginx = { available: true, note: `${ngx.nginx.version}, 1 worker, proxy_request_buffering off, upstream keepalive 64` }
      }
      const targets = [direct, gw.target, generic, bare, ...(ngx !== undefined ? [ngx.target] : [])]
      // JIT warm-up of every relay (and of the upstream) before anything is measured.
      for (const target of targets) await runLoad<RateResult>({ kind: 'rate', url: target.url, headers: target.headers, bodyBytes: 1024, connections: 32, durationSec: WARMUP * 2, warmupSec: 0 })
      const rssWatch = watchMemory(gw.proc.pid)
      for (const workload of rateWorkloads) {
        const samples = await measureRounds(workload, targets.map(t => ({ name: t.scenario, target: t })), upstream)
        results.rate[workload.id] = Object.fromEntries([...samples].map(([s, list]) => [s, summarize(list)]))
      }
      const mem = rssWatch.stop()
      results.gatewayRateMemory = { maxRss: mem.maxRss, hwm: mem.hwm }
      for (const t of targets) await t.stop()
    }

    for (const workload of WORKLOADS.filter(w => w.kind === 'stream' && wanted(w.id))) {
      const outcome: Partial<Record<Scenario, StreamOutcome>> = {}
      for (const scenario of SCENARIOS) {
        // A fresh relay per large workload: its peak RSS (VmHWM) is this workload's alone.
        let target: Target | undefined
        if (scenario === 'direct') target = direct
        else if (scenario === 'gateway') target = (await startGateway(upstreamUrl, tmp)).target
        else if (scenario === 'generic-proxy' || scenario === 'bare-node') target = await startReference(scenario, upstreamUrl, uploadPath, token)
        else target = (await startNginxTarget(tmp, upstreamUrl, uploadPath, token))?.target
        if (target === undefined) continue
        procs.push(target)
        const before: Memory | undefined = target.pid !== undefined ? memory(target.pid) : undefined
        const watch = target.pid !== undefined ? watchMemory(target.pid, 100) : undefined
        const job: StreamJob = { kind: 'stream', url: target.url, headers: target.headers, sizeBytes: workload.bodyBytes, concurrency: workload.connections! }
        const cpu0 = { relay: target.pid !== undefined ? cpuSeconds(target.pid) : undefined, upstream: cpuSeconds(upstream.pid) }
        const r = await runLoad<StreamResult>(job, 600_000)
        const mem = watch?.stop()
        const gib = workload.bodyBytes * workload.connections / 2 ** 30
        const relayCpuPerGiB = cpu0.relay !== undefined && target.pid !== undefined ? (cpuSeconds(target.pid)! - cpu0.relay) / gib : undefined
        const upstreamCpuPerGiB = cpu0.upstream !== undefined ? (cpuSeconds(upstream.pid)! - cpu0.upstream) / gib : undefined
        await target.stop()
        const ok = r.uploads.filter(u => u.status === 201).length
        outcome[scenario] = { ...r, ok, rssBefore: before?.rss, maxRss: mem?.maxRss, peakRss: mem?.hwm, relayCpuPerGiB, upstreamCpuPerGiB }
        log(`${workload.id} ${scenario}: ${r.mbps.toFixed(0)} MB/s, ${ok}/${r.concurrency} created${mem !== undefined ? `, peak RSS ${(mem.hwm / 2 ** 20).toFixed(0)} MiB` : ''}, CPU s/GiB: relay ${relayCpuPerGiB?.toFixed(2) ?? '-'}, upstream ${upstreamCpuPerGiB?.toFixed(2) ?? '-'}`)
      }
      results.stream[workload.id] = outcome
    }

    if (wanted('cold-100')) {
      const gw = await startGateway(upstreamUrl, tmp)
      procs.push(gw.proc)
      await fetch(`${upstreamUrl}/_bench/reset`, { method: 'POST' })
      const r = await runLoad<ColdResult>({ kind: 'cold', url: gw.target.url, headers: gw.target.headers, bodyBytes: 1024, concurrency: 100 })
      const stats = await getJson<{ logins: number, folders: number, children: number, uploads: number }>(`${upstreamUrl}/_bench/stats`)
      await gw.proc.stop()
      const cold: ColdOutcome = { ...r, logins: stats.logins, folderLookups: stats.folders + stats.children, uploads: stats.uploads }
      results.cold = cold
      log(`cold-100: ${stats.logins} login(s), first 201 after ${r.firstCreatedMs?.toFixed(0) ?? '-'} ms, all ${r.allDoneMs.toFixed(0)} ms, statuses ${JSON.stringify(r.statuses)}`)
    }
    const keyedWorkload = WORKLOADS.find(w => w.kind === 'keyed' && wanted(w.id))
    if (keyedWorkload !== undefined) {
      const redis = await startRedis(join(tmp, 'redis'))
      if (redis === undefined) {
        results.keyedNote = `${REDIS_SERVER} missing: the keyed workload was skipped (Debian: apt-get install redis-server)`
        log(results.keyedNote)
      } else {
        procs.push(redis)
        log(`${keyedWorkload.id}: ${redis.version} (${redis.note}); gateway with REDIS_URL, and one without for keys in memory`)
        // The same process with and without keys: the ratio is what the key costs through Redis.
        const shared = await startGateway(upstreamUrl, tmp, [], { REDIS_URL: redis.url })
        procs.push(shared.proc)
        const memoryGw = await startGateway(upstreamUrl, tmp)
        procs.push(memoryGw.proc)
        // Every side has an id per request in a header (the baseline in one the gateway ignores), so the load generator does the same work on each.
        const sides = [
          { name: 'unkeyed' as const, target: { ...shared.target, headers: { ...shared.target.headers, 'x-bench-request': '[<id>]' } }, idReplacement: true },
          { name: 'keyed-redis' as const, target: { ...shared.target, headers: { ...shared.target.headers, 'idempotency-key': 'bench-[<id>]' } }, idReplacement: true },
          { name: 'keyed-memory' as const, target: { ...memoryGw.target, headers: { ...memoryGw.target.headers, 'idempotency-key': 'bench-[<id>]' } }, idReplacement: true }
        ]
        for (const side of sides) {
          // The warm-up also checks that the keys are unique: every 201 was an upload, none a replay.
          const before = await getJson<{ uploads: number }>(`${upstreamUrl}/_bench/stats`)
          const warm = await runLoad<RateResult>({ kind: 'rate', url: side.target.url, headers: side.target.headers, bodyBytes: keyedWorkload.bodyBytes, connections: keyedWorkload.connections, durationSec: WARMUP * 2, warmupSec: 0, idReplacement: true } satisfies RateJob)
          const uploads = (await getJson<{ uploads: number }>(`${upstreamUrl}/_bench/stats`)).uploads - before.uploads
          if (uploads < warm.ok) throw new Error(`${keyedWorkload.id} ${side.name}: ${warm.ok} answered 2xx but ${uploads} uploads reached the upstream: the keys were not unique`)
        }
        const redisCpu: number[] = []
        const samples = await measureRounds(keyedWorkload, sides, upstream, { extra: { pid: redis.pid, onRound: (name, cpuUs) => { if (name === 'keyed-redis' && cpuUs !== undefined) redisCpu.push(cpuUs) } } })
        results.keyed = {
          redis: { version: redis.version, note: redis.note },
          sides: Object.fromEntries([...samples].map(([s, list]) => [s, summarize(list)])),
          redisCpuUs: redisCpu.length > 0 ? median(redisCpu) : undefined
        }
        const ratio = rateRatio(results.keyed.sides['keyed-redis'], results.keyed.sides.unkeyed)
        log(`${keyedWorkload.id}: keyed through Redis / unkeyed req/s ${ratio?.toFixed(2) ?? '-'} (median of paired rounds), Redis CPU µs per keyed request ${results.keyed.redisCpuUs?.toFixed(0) ?? '-'}`)
        await shared.proc.stop()
        await memoryGw.proc.stop()
        await redis.stop()
      }
    }
    const asyncWorkload = WORKLOADS.find(w => w.kind === 'async' && wanted(w.id))
    if (asyncWorkload !== undefined) {
      results.async = await measureAsync(asyncWorkload, upstream, tmp, procs)
      log(`${asyncWorkload.id}: async / sync documents/s ${asyncRatio(results.async)?.toFixed(2) ?? '-'} (median of paired rounds), delivery from the outbox ${deliveryRate(results.async)?.toFixed(0) ?? '-'} documents/s (OUTBOX_CONCURRENCY ${results.async.outbox.concurrency}, the default)`)
    }
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => {})
    rmSync(tmp, { recursive: true, force: true })
  }
  results.finishedAt = new Date().toISOString()
  results.durationSec = Math.round((Date.now() - began) / 1000)
  const dir = process.env.BENCH_RESULTS_DIR ?? join(BENCH, 'results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${results.startedAt.replace(/[:.]/g, '-')}.json`)
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`)
  log(`raw results: ${file}`)
  if (process.env.BENCH_NO_REPORT !== '1') {
    const written = writeReport(results, ROOT)
    log(`report: ${written.join(', ')}`)
  }
  log(`done in ${results.durationSec} s`)
}

/** The bundled simulator as the upstream, small bodies straight at it: is it fast enough? */
async function simulatorCheck (): Promise<{ rps: number, p99: number }> {
  const sim = await start({
    name: 'simulator',
    command: process.execPath,
    args: [join(ROOT, 'dist/simulator/main.js')],
    env: { SIMULATOR_HOST: '127.0.0.1', SIMULATOR_PORT: '0', SIMULATOR_KEEP_BODIES: 'false' },
    isReady: l => typeof l.url === 'string'
  })
  try {
    const url = String(sim.ready.url)
    const { token, uploadPath } = await login(url)
    const r = await runLoad<RateResult>({ kind: 'rate', url: `${url}${uploadPath}`, headers: { authorization: `Bearer ${token}`, 'content-disposition': FILENAME }, bodyBytes: 1024, connections: 32, durationSec: DURATION, warmupSec: WARMUP })
    log(`simulator check (direct, 1 KiB, 32 conns): ${r.rps.toFixed(0)} req/s`)
    return { rps: r.rps, p99: r.latencyMs.p99 }
  } finally {
    await sim.stop()
  }
}

function gitCommit (): string | undefined {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() + (execSync('git status --porcelain -- src', { cwd: ROOT, encoding: 'utf8' }).trim() !== '' ? '+dirty' : '')
  } catch {
    return undefined
  }
}

if (nginxBinary() === undefined) log('nginx not on PATH: the nginx scenario is skipped (Debian: apt-get install nginx)')
main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
