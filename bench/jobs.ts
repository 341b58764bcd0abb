// What the bench asks of the load generator (bench/load.ts) and what it answers.

export interface RateJob {
  kind: 'rate'
  url: string
  headers: Record<string, string>
  bodyBytes: number
  connections: number
  durationSec: number
  warmupSec: number
  /**
   * autocannon's idReplacement: every `[<id>]` in the request (headers included) becomes a
   * fresh id per request, e.g. a unique Idempotency-Key. Costs the load generator a
   * rebuild per request, so a baseline it is compared with should use it too.
   */
  idReplacement?: boolean
}

export interface RateResult {
  kind: 'rate'
  connections: number
  bodyBytes: number
  durationSec: number
  /** Requests answered 2xx per second over the measured run. */
  rps: number
  ok: number
  non2xx: number
  errors: number
  timeouts: number
  latencyMs: { p50: number, p90: number, p99: number, mean: number, max: number }
  /** Request body megabytes (10^6) per second, 2xx only. */
  mbps: number
  /** CPU seconds the load generator itself used during the measured run. */
  loadCpuSec: number
  /** Requests answered during the warm-up run (not counted above). */
  warmupRequests: number
  /** Answers by HTTP status, warm-up and measured run together (e.g. every async answer must be 202). */
  statuses?: Record<string, number>
  /** CPU microseconds per request (warm-up included) of the relay and of the upstream, filled in by the bench. */
  relayCpuUs?: number | undefined
  upstreamCpuUs?: number | undefined
}

export interface StreamJob {
  kind: 'stream'
  url: string
  headers: Record<string, string>
  sizeBytes: number
  concurrency: number
}

export interface UploadTiming {
  status: number
  ms: number
  bytesSent: number
  /** Response headers of interest (digest). */
  reprDigest?: string
}

export interface StreamResult {
  kind: 'stream'
  sizeBytes: number
  concurrency: number
  /** Wall time from the first upload's start to the last 201. */
  wallMs: number
  /** All request bytes / wall time, MB (10^6) per second. */
  mbps: number
  uploads: UploadTiming[]
}

export interface ColdJob {
  kind: 'cold'
  url: string
  headers: Record<string, string>
  bodyBytes: number
  concurrency: number
}

export interface ColdResult {
  kind: 'cold'
  concurrency: number
  statuses: Record<string, number>
  /** From sending all requests to the first 201 / to the last answer. */
  firstCreatedMs: number | undefined
  allDoneMs: number
}

export type Job = RateJob | StreamJob | ColdJob

/** An EDI-looking ASCII body of exactly `bytes` bytes. */
export function ediBody (bytes: number): Buffer {
  const segment = 'ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *261128*1200*U*00401*000000001*0*P*>~\n'
  return Buffer.from(segment.repeat(Math.ceil(bytes / segment.length)).slice(0, bytes), 'ascii')
}
