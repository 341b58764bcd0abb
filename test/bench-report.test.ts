// The benchmark's report code (bench/, run by `npm run bench`, never by the suite) still
// builds and renders: a synthetic result becomes the markdown section and the SVG chart.
// No timing is measured or asserted here.
import t from 'tap'
import { checkTargets, END, renderMarkdown, renderSvg, START, writeReport } from '../bench/report.js'
import { WORKLOADS, type BenchResults } from '../bench/results.js'
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

function rate (rps: number): NonNullable<BenchResults['rate'][string]['direct']> {
  const sample = { kind: 'rate' as const, connections: 32, bodyBytes: 1024, durationSec: 5, rps, ok: rps * 5, non2xx: 0, errors: 0, timeouts: 0, latencyMs: { p50: 2, p90: 3, p99: 9, mean: 2, max: 20 }, mbps: rps * 1024 / 1e6, loadCpuSec: 1, warmupRequests: 0 }
  return { rps, p50: 2, p99: 9, mbps: sample.mbps, relayCpuUs: 100, loadCpuUs: 20, failed: 0, representative: sample, samples: [sample] }
}

function stream (mbps: number, peakRss?: number): NonNullable<BenchResults['stream'][string]['direct']> {
  return { kind: 'stream', sizeBytes: 2 ** 30, concurrency: 1, wallMs: 1000, mbps, uploads: [{ status: 201, ms: 1000, bytesSent: 2 ** 30 }], ok: 1, peakRss, relayCpuPerGiB: 1.5 }
}

const results: BenchResults = {
  startedAt: '2026-11-28T12:00:00.000Z',
  finishedAt: '2026-11-28T12:05:00.000Z',
  durationSec: 300,
  machine: { node: 'v20.0.0', cpu: 'test cpu', cores: 2, memoryGiB: 8, loadavgAtStart: [0.1, 0.2, 0.3] },
  commit: 'abc1234',
  settings: { rounds: 3, durationSec: 5, warmupSec: 2 },
  callerAuth: true,
  nginx: { available: true, note: 'nginx/1.0' },
  upstream: { kind: 'sink', simulatorCheck: { rps: 9000, p99: 10 } },
  rate: {
    'small-32': { direct: rate(20000), gateway: rate(12000), 'generic-proxy': rate(6000), 'bare-node': rate(15000), nginx: rate(18000) },
    'small-128': { direct: rate(20000), gateway: rate(9000), 'generic-proxy': rate(7000), nginx: rate(18000) }
  },
  stream: { 'large-1x1g': { direct: stream(1000), gateway: stream(850, 100 * 2 ** 20), 'generic-proxy': stream(700, 90 * 2 ** 20), 'bare-node': stream(750, 60 * 2 ** 20), nginx: stream(900, 6 * 2 ** 20) } },
  cold: { kind: 'cold', concurrency: 100, statuses: { 201: 100 }, firstCreatedMs: 50, allDoneMs: 300, logins: 1, folderLookups: 2, uploads: 100 }
}

t.test('issue 15\'s targets are checked against the ratios of one run, to the bare relay and the generic proxy', async t => {
  const byWhat = Object.fromEntries(checkTargets(results).map(c => [c.what, c]))
  t.equal(byWhat['small-32: gateway / bare relay req/s']?.holds, true, '12000 / 15000 = 0.8')
  t.equal(byWhat['small-32: gateway / generic proxy req/s']?.holds, true, '12000 / 6000 = 2')
  t.equal(byWhat['small-32: gateway / bare relay CPU µs per request']?.holds, true, '100 / 100 µs')
  t.equal(byWhat['small-128: gateway / bare relay req/s']?.holds, undefined, 'no bare relay measured there')
  t.equal(byWhat['small-128: gateway / generic proxy req/s']?.holds, false, '9000 / 7000 is under 1.3')
  t.equal(byWhat['large-1x1g: gateway (digest on) / bare relay MB/s']?.holds, true, '850 / 750')
  t.equal(byWhat['large-1x1g: gateway peak RSS']?.holds, false, '100 MiB is more than the bare relay\'s 60 + 16')
  t.equal(byWhat['large-1x1g: gateway peak RSS']?.target, '≤ bare relay + 16 MiB (76 MiB)')
  t.equal(byWhat['cold-100: logins for 100 concurrent first requests']?.holds, true)
})

t.test('rate ratios pair the rounds: a slow round slows both sides of the ratio', async t => {
  const { rateRatio } = await import('../bench/report.js')
  const rounds = (...rps: number[]): NonNullable<BenchResults['rate'][string]['direct']> => {
    const r = rate(rps[0]!)
    return { ...r, samples: rps.map(v => ({ ...r.representative, rps: v })) }
  }
  // Per round the gateway does 0.2, 0.5 and 0.5 of direct: the median of those is 0.5;
  // the ratio of the two medians (6000 / 20000) would mix rounds and say 0.3.
  const direct = rounds(30000, 10000, 20000)
  const gateway = rounds(6000, 5000, 10000)
  t.equal(rateRatio(gateway, direct), 0.5)
  t.equal(rateRatio(gateway, { ...direct, samples: [] }), gateway.rps / direct.rps, 'without rounds: the ratio of the medians')
})

t.test('each target also shows what the generic proxy reaches in the gateway\'s place', async t => {
  const generic = Object.fromEntries(checkTargets(results).map(c => [c.what, c.genericProxy]))
  t.equal(generic['small-32: gateway / bare relay req/s'], '0.40×', '6000 / 15000')
  t.equal(generic['small-128: gateway / bare relay req/s'], '–', 'not measured there')
  t.equal(generic['large-1x1g: gateway (digest on) / bare relay MB/s'], '0.93× (no digest)', '700 / 750')
  t.equal(generic['large-1x1g: gateway peak RSS'], '90 MiB')
  const md = renderMarkdown(results)
  t.match(md, '| small-32: gateway / bare relay req/s | ≥ 0.8× | 0.80× | yes | 0.40× |')
  t.match(md, /\| workload \| figure \| direct \| gateway \| generic proxy \| bare Node relay \| nginx \|/)
})

t.test('the report has a row for every measured workload, and the chart is SVG', async t => {
  const md = renderMarkdown(results)
  for (const w of WORKLOADS.filter(w => results.rate[w.id] !== undefined || results.stream[w.id] !== undefined)) t.match(md, w.label)
  t.match(md, '| 0.60× | 2.00× |', 'gateway/direct and gateway/generic ratios')
  const svg = renderSvg(results)
  t.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
  t.match(svg, '</svg>')
})

t.test('the generated section replaces only what is between the markers', async t => {
  const root = mkdtempSync(join(tmpdir(), 'bench-report-'))
  mkdirSync(join(root, 'docs'))
  writeFileSync(join(root, 'docs', 'benchmarks.md'), `# Benchmarks\n\nhand-written\n\n${START}\nold\n${END}\n\nafter\n`)
  writeReport(results, root)
  const page = readFileSync(join(root, 'docs', 'benchmarks.md'), 'utf8')
  t.match(page, 'hand-written')
  t.match(page, 'after')
  t.notMatch(page, '\nold\n')
  t.match(readFileSync(join(root, 'docs', 'benchmarks.svg'), 'utf8'), '<svg')
})

t.test('the keyed workload: keyed requests through Redis as a ratio to unkeyed ones of the same rounds', async t => {
  const { keyedRatios } = await import('../bench/report.js')
  const rounds = (...rps: number[]): NonNullable<BenchResults['rate'][string]['direct']> => {
    const r = rate(rps[0]!)
    return { ...r, rps: [...rps].sort((a, b) => a - b)[rps.length >> 1]!, samples: rps.map(v => ({ ...r.representative, rps: v })) }
  }
  // Per round keyed/unkeyed is 0.8, 0.5 and 0.9: the median is 0.8 (the medians' ratio, 2000 / 3000, would say 0.67).
  const keyed: BenchResults = {
    ...results,
    keyed: {
      redis: { version: 'Redis server v=7.0.15', note: 'appendonly yes' },
      sides: { unkeyed: rounds(2500, 4000, 3000), 'keyed-redis': rounds(2000, 2000, 2700), 'keyed-memory': rounds(2500, 3600, 2700) },
      redisCpuUs: 42
    }
  }
  const ratios = keyedRatios(keyed)
  t.equal(ratios.redis, 0.8)
  t.equal(ratios.memory, 0.9)
  const md = renderMarkdown(keyed)
  t.match(md, '### Idempotency-Key through Redis')
  t.match(md, 'Keyed requests through Redis: **0.80×** the rate of unkeyed ones (keys in memory: 0.90×)')
  t.match(md, '| req/s | 3,000 | 2,000 | 2,700 | 0.80× | 0.90× |')
  t.match(md, /\| Redis CPU µs per request \| – \| 42 \| – \|/)
  t.notMatch(renderMarkdown(results), 'Idempotency-Key through Redis', 'a run without the workload (older results) has no such section')
  t.match(renderMarkdown({ ...results, keyedNote: '/usr/bin/redis-server missing: the keyed workload was skipped' }), 'redis-server missing: the keyed workload was skipped.', 'a skipped workload says why')
})

t.test('the store-and-forward workload: async intake beside synchronous delivery, and the delivery rate from the outbox', async t => {
  const { asyncRatio, deliveryRate } = await import('../bench/report.js')
  const rounds = (...rps: number[]): NonNullable<BenchResults['rate'][string]['direct']> => {
    const r = rate(rps[0]!)
    return { ...r, rps: [...rps].sort((a, b) => a - b)[rps.length >> 1]!, samples: rps.map(v => ({ ...r.representative, rps: v })) }
  }
  const drain = (rate: number | undefined, backlog: number): NonNullable<BenchResults['async']>['drains'][number] => ({ accepted: backlog + 50, deliveredDuringIntake: 50, intakeSec: 5, backlog, backlogBytes: backlog * 1024, delivered: backlog, drainSec: rate === undefined ? 0 : backlog / rate, rate, cpuUsPerDelivery: 900 })
  // Per round async/sync is 0.3, 0.25 and 0.4: the median is 0.3 (the medians' ratio, 500 / 1500, would say 0.33).
  const withAsync: BenchResults = {
    ...results,
    async: {
      outbox: { filesystem: 'ext4', source: '/dev/vda', maxBytes: 2 ** 30, concurrency: 2, concurrencyIsDefault: true },
      durationSec: 3,
      sides: { sync: rounds(1000, 2000, 1500), async: rounds(300, 500, 600) },
      drains: [drain(100, 1000), drain(undefined, 0), drain(120, 2400)]
    }
  }
  t.equal(asyncRatio(withAsync.async), 0.3)
  t.equal(deliveryRate(withAsync.async), 110, 'the median of the rounds that left a backlog')
  const md = renderMarkdown(withAsync)
  t.match(md, '### Store and forward')
  t.match(md, '`OUTBOX_DIR` on /dev/vda (ext4), `OUTBOX_MAX_BYTES` 1,024 MiB, `OUTBOX_CONCURRENCY` 2, the gateway\'s default')
  t.match(md, '3 × 3 s per side')
  t.match(md, 'Async intake: **500 documents/s**, **0.30×** the synchronous rate; delivery from the outbox: **110 documents/s** (`OUTBOX_CONCURRENCY` 2, the gateway\'s default).')
  t.match(md, '| documents/s | 1,500 | 500 | 0.30× |')
  t.match(md, '| delivered from the backlog (documents/s, intake stopped) | 110 | 100, –, 120 |')
  t.match(md, '| backlog when the intake stopped (documents) | 1,000 | 1,000, 0, 2,400 |')
  t.match(md, '| delivered while accepting (documents/s) | 10 | 10, 10, 10 |')
  t.notMatch(md, 'not a disk')
  const onTmpfs = renderMarkdown({ ...withAsync, async: { ...withAsync.async!, outbox: { ...withAsync.async!.outbox, filesystem: 'tmpfs', source: 'tmpfs' } } })
  t.match(onTmpfs, '**on tmpfs, not a disk: fsync costs nothing there', 'an outbox on tmpfs is called out: its fsync is free')
  t.notMatch(renderMarkdown(results), '### Store and forward', 'a run without the workload (older results) has no such section')
})
