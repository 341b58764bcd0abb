// npm run bench:profile: the gateway alone under the small-body load, its CPU cost per
// request (from /proc, measured runs only), and with --cpu-prof the functions with the most
// self time. The .cpuprofile is kept under bench/results/profiles (open it in Chrome DevTools).
// Env: PROFILE_CONNECTIONS (32), PROFILE_SECONDS (5), PROFILE_RUNS (3), PROFILE_BODY_BYTES (1024),
// PROFILE_TOP (30), PROFILE_CPU=0 to measure without the profiler.
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BENCH_PASSWORD, BENCH_USERNAME } from './credentials.js'
import type { RateResult } from './jobs.js'
import { BENCH, cpuSeconds, imageAllocatorEnv, ROOT, runLoad, start, tsNode } from './lib.js'

interface ProfileNode { id: number, callFrame: { functionName: string, url: string, lineNumber: number } }
interface Profile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

/** Self time per function (name, file, line), as a share of all samples, highest first. */
export function selfTimes (profile: Profile): Array<{ share: number, fn: string }> {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const perNode = new Map<number, number>()
  let total = 0
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0
    total += dt
    perNode.set(id, (perNode.get(id) ?? 0) + dt)
  })
  const perFn = new Map<string, number>()
  for (const [id, us] of perNode) {
    const f = byId.get(id)!.callFrame
    const file = f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(dist|src)\//, '$1/')
    const key = `${f.functionName === '' ? '(anonymous)' : f.functionName}  ${file}${file !== '' ? `:${f.lineNumber + 1}` : ''}`
    perFn.set(key, (perFn.get(key) ?? 0) + us)
  }
  return [...perFn].map(([fn, us]) => ({ fn, share: us / total })).sort((a, b) => b.share - a.share)
}

async function main (): Promise<void> {
  const connections = Number(process.env.PROFILE_CONNECTIONS ?? 32)
  const seconds = Number(process.env.PROFILE_SECONDS ?? 5)
  const runs = Number(process.env.PROFILE_RUNS ?? 3)
  const profiling = process.env.PROFILE_CPU !== '0'
  const pin = process.env.PROFILE_PIN === '1'
  if (pin) execFileSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' })
  const bodyBytes = Number(process.env.PROFILE_BODY_BYTES ?? 1024)
  const dir = join(BENCH, 'results', 'profiles')
  mkdirSync(dir, { recursive: true })
  const before = new Set(readdirSync(dir))
  const upstream = await start({ name: 'upstream', ...tsNode('upstream.ts'), isReady: l => l.event === 'listening' })
  let gateway: Awaited<ReturnType<typeof start>>
  try {
    gateway = await start({
      name: 'gateway',
      // PROFILE_PIN=1: the gateway alone on CPU 1, everything else on CPU 0 (steadier figures).
      command: pin ? 'taskset' : process.execPath,
      args: [...(pin ? ['-c', '1', process.execPath] : []), ...(profiling ? ['--cpu-prof', '--cpu-prof-dir', dir] : []), join(ROOT, 'dist/main.js')],
      env: { NODE_ENV: 'production', LOG_LEVEL: process.env.PROFILE_LOG_LEVEL ?? 'info', HOST: '127.0.0.1', PORT: '0', CIC_BASE_URL: String(upstream.ready.url), CIC_USERNAME: BENCH_USERNAME, CIC_PASSWORD: BENCH_PASSWORD, GATEWAY_API_KEYS: 'bench-caller-key-0123456789abcdef', SHUTDOWN_DELAY_SECONDS: '0', ...imageAllocatorEnv() },
      isReady: l => l.event === 'start'
    })
  } catch (err) {
    await upstream.stop()
    throw err
  }
  try {
    const job = { kind: 'rate', url: `${String(gateway.ready.address)}/documents`, headers: { authorization: 'Bearer bench-caller-key-0123456789abcdef', 'content-disposition': 'attachment; filename=bench_850.edi' }, bodyBytes, connections, durationSec: 3, warmupSec: 0 }
    await runLoad<RateResult>(job)
    for (let i = 0; i < runs; i++) {
      const cpu0 = cpuSeconds(gateway.pid)!
      const r = await runLoad<RateResult>({ ...job, durationSec: seconds })
      const us = (cpuSeconds(gateway.pid)! - cpu0) / (r.ok + r.non2xx) * 1e6
      process.stdout.write(`gateway${profiling ? ' (profiled)' : ''}: ${r.rps.toFixed(0)} req/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, ${us.toFixed(0)} CPU µs/request (${connections} connections, ${bodyBytes} B bodies${r.non2xx > 0 ? `, ${r.non2xx} non-2xx` : ''})\n`)
    }
  } finally {
    await gateway.stop()
    await upstream.stop()
  }
  if (!profiling) return
  const file = readdirSync(dir).find(f => f.endsWith('.cpuprofile') && !before.has(f))
  if (file === undefined) throw new Error('no profile written')
  const top = selfTimes(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile).slice(0, Number(process.env.PROFILE_TOP ?? 30))
  process.stdout.write(`profile: ${join(dir, file)}\nself time (whole run, warm-up and start-up included):\n`)
  for (const { share, fn } of top) process.stdout.write(`${(share * 100).toFixed(1).padStart(5)} %  ${fn}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
