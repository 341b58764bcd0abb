// The load generator, run as its own process by the bench (argv[2] is a JSON job; the
// result is the last line printed, as JSON). Three kinds of job:
//  - rate:   autocannon, N keep-alive connections posting the same body for D seconds
//            (after a warm-up run that is not counted), answers counted by status;
//  - stream: K concurrent uploads of S bytes each, generated on the fly (never held in
//            memory), timed from the first byte sent to the 201 read;
//  - cold:   K concurrent first requests, each on its own connection, at once.
import autocannon from 'autocannon'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { ediBody, type ColdJob, type ColdResult, type Job, type RateJob, type RateResult, type StreamJob, type StreamResult, type UploadTiming } from './jobs.js'

async function rate (job: RateJob): Promise<RateResult> {
  const body = ediBody(job.bodyBytes)
  const options = { url: job.url, method: 'POST' as const, headers: { ...job.headers, 'content-type': 'application/octet-stream' }, body, connections: job.connections, timeout: 30, idReplacement: job.idReplacement === true }
  const warm = job.warmupSec > 0 ? await autocannon({ ...options, duration: job.warmupSec }) : undefined
  const cpu = process.cpuUsage()
  const r = await autocannon({ ...options, duration: job.durationSec })
  const used = process.cpuUsage(cpu)
  const ok = r['2xx']
  const seconds = r.duration
  const statuses: Record<string, number> = {}
  for (const result of [warm, r]) {
    // autocannon's typings here leave out statusCodeStats (answers by status).
    const stats = (result as { statusCodeStats?: Record<string, { count: number }> } | undefined)?.statusCodeStats ?? {}
    for (const [status, { count }] of Object.entries(stats)) statuses[status] = (statuses[status] ?? 0) + count
  }
  return {
    kind: 'rate',
    connections: job.connections,
    bodyBytes: job.bodyBytes,
    durationSec: seconds,
    rps: ok / seconds,
    ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, mean: r.latency.average, max: r.latency.max },
    mbps: ok * job.bodyBytes / seconds / 1e6,
    loadCpuSec: (used.user + used.system) / 1e6,
    warmupRequests: warm === undefined ? 0 : warm['2xx'] + warm.non2xx,
    statuses
  }
}

interface Answer { status: number, headers: IncomingHttpHeaders, body: string }

/** One POST on its own connection; the body is `source` repeated to `size` bytes, with backpressure. */
async function post (url: string, headers: Record<string, string>, size: number, source: Buffer, onSent?: (n: number) => void): Promise<Answer> {
  return await new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent: false, headers: { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(size) } }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { if (body.length < 65536) body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    let sent = 0
    const pump = (): void => {
      while (sent < size) {
        const n = Math.min(source.length, size - sent)
        sent += n
        onSent?.(n)
        const more = req.write(n === source.length ? source : source.subarray(0, n))
        if (!more) { req.once('drain', pump); return }
      }
      req.end()
    }
    pump()
  })
}

async function stream (job: StreamJob): Promise<StreamResult> {
  const chunk = ediBody(1024 * 1024)
  const started = performance.now()
  const uploads = await Promise.all(Array.from({ length: job.concurrency }, async (_, i): Promise<UploadTiming> => {
    const t0 = performance.now()
    let bytesSent = 0
    const headers = { ...job.headers, 'content-disposition': `attachment; filename=large-${i}.edi` }
    try {
      const answer = await post(job.url, headers, job.sizeBytes, chunk, n => { bytesSent += n })
      const timing: UploadTiming = { status: answer.status, ms: performance.now() - t0, bytesSent }
      const digest = answer.headers['repr-digest']
      if (typeof digest === 'string') timing.reprDigest = digest
      return timing
    } catch {
      return { status: 0, ms: performance.now() - t0, bytesSent }
    }
  }))
  const wallMs = performance.now() - started
  const total = uploads.filter(u => u.status === 201).length * job.sizeBytes
  return { kind: 'stream', sizeBytes: job.sizeBytes, concurrency: job.concurrency, wallMs, mbps: total / (wallMs / 1000) / 1e6, uploads }
}

async function cold (job: ColdJob): Promise<ColdResult> {
  const body = ediBody(job.bodyBytes)
  const statuses: Record<string, number> = {}
  let firstCreatedMs: number | undefined
  const started = performance.now()
  await Promise.all(Array.from({ length: job.concurrency }, async (_, i) => {
    const headers = { ...job.headers, 'content-disposition': `attachment; filename=cold-${i}.edi` }
    let status = 0
    try {
      status = (await post(job.url, headers, body.length, body)).status
    } catch {}
    if (status === 201 && firstCreatedMs === undefined) firstCreatedMs = performance.now() - started
    statuses[status] = (statuses[status] ?? 0) + 1
  }))
  return { kind: 'cold', concurrency: job.concurrency, statuses, firstCreatedMs, allDoneMs: performance.now() - started }
}

async function main (): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as Job
  const result = job.kind === 'rate' ? await rate(job) : job.kind === 'stream' ? await stream(job) : await cold(job)
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
