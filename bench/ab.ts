// A/B cost of a gateway change: two builds side by side on one upstream, the small-body
// load alternating between them, CPU microseconds per request of each (from /proc) and
// the medians. The gateways run on CPU 1, upstream and load generator on CPU 0, so the
// noise of a shared machine hits both builds alike.
//   node --import tsx bench/ab.ts <dir of build A> <dir of build B>   (each holding main.js)
// Env: AB_RUNS (6), AB_SECONDS (4), AB_CONNECTIONS (32), AB_BODY_BYTES (1024).
import { execFileSync } from 'node:child_process'
import { resolve } from 'node:path'
import { BENCH_PASSWORD, BENCH_USERNAME } from './credentials.js'
import type { RateJob, RateResult } from './jobs.js'
import { cpuSeconds, imageAllocatorEnv, runLoad, start, tsNode, type Proc } from './lib.js'

function median (values: number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

async function main (): Promise<void> {
  const dirs = process.argv.slice(2, 4).map(d => resolve(d))
  if (dirs.length !== 2) throw new Error('usage: bench/ab.ts <build A> <build B>')
  const runs = Number(process.env.AB_RUNS ?? 6)
  const seconds = Number(process.env.AB_SECONDS ?? 4)
  execFileSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' })
  const procs: Proc[] = []
  try {
    const upstream = await start({ name: 'upstream', ...tsNode('upstream.ts'), isReady: l => l.event === 'listening' })
    procs.push(upstream)
    const gateways: Proc[] = []
    for (const dir of dirs) {
      const gw = await start({
        name: 'gateway',
        command: 'taskset',
        args: ['-c', '1', process.execPath, `${dir}/main.js`],
        env: { NODE_ENV: 'production', LOG_LEVEL: 'info', HOST: '127.0.0.1', PORT: '0', CIC_BASE_URL: String(upstream.ready.url), CIC_USERNAME: BENCH_USERNAME, CIC_PASSWORD: BENCH_PASSWORD, GATEWAY_API_KEYS: 'bench-caller-key-0123456789abcdef', SHUTDOWN_DELAY_SECONDS: '0', ...imageAllocatorEnv() },
        isReady: l => l.event === 'start'
      })
      procs.push(gw)
      gateways.push(gw)
    }
    const job = (gw: Proc, durationSec: number): RateJob => ({ kind: 'rate', url: `${String(gw.ready.address)}/documents`, headers: { authorization: 'Bearer bench-caller-key-0123456789abcdef', 'content-disposition': 'attachment; filename=bench_850.edi' }, bodyBytes: Number(process.env.AB_BODY_BYTES ?? 1024), connections: Number(process.env.AB_CONNECTIONS ?? 32), durationSec, warmupSec: 0 })
    for (const gw of gateways) await runLoad(job(gw, 3))
    const cost: number[][] = [[], []]
    const rate: number[][] = [[], []]
    for (let i = 0; i < runs; i++) {
      for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
        const gw = gateways[k]!
        const cpu0 = cpuSeconds(gw.pid)!
        const r = await runLoad<RateResult>(job(gw, seconds))
        const us = (cpuSeconds(gw.pid)! - cpu0) / (r.ok + r.non2xx) * 1e6
        cost[k]!.push(us)
        rate[k]!.push(r.rps)
        process.stdout.write(`${k === 0 ? 'A' : 'B'}: ${us.toFixed(0)} µs/request, ${r.rps.toFixed(0)} req/s${r.non2xx > 0 ? `, ${r.non2xx} non-2xx` : ''}\n`)
      }
    }
    const [a, b] = [median(cost[0]!), median(cost[1]!)]
    process.stdout.write(`median A ${a.toFixed(0)} µs/request (${median(rate[0]!).toFixed(0)} req/s), B ${b.toFixed(0)} µs/request (${median(rate[1]!).toFixed(0)} req/s): B - A = ${(b - a).toFixed(0)} µs (${((b / a - 1) * 100).toFixed(1)} %)\n`)
  } finally {
    for (const p of procs.reverse()) await p.stop()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
