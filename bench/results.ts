// The shape of bench/results/*.json, and the workloads and scenarios it covers.
import type { ColdResult, RateResult, StreamResult } from './jobs.js'

// bare-node: bench/bare-relay.ts, the floor of any relay written in Node (no product features).
export const SCENARIOS = ['direct', 'gateway', 'generic-proxy', 'bare-node', 'nginx'] as const
export type Scenario = typeof SCENARIOS[number]

export interface Workload {
  id: string
  label: string
  kind: 'rate' | 'stream' | 'cold' | 'keyed' | 'async'
  bodyBytes: number
  /** Connections (rate) or concurrent uploads (stream, cold). */
  connections: number
  /** Seconds per side and round when shorter than BENCH_DURATION (the async workload: its backlog must drain each round). */
  durationSec?: number
}

const KIB = 1024
const MIB = 1024 * KIB
const GIB = 1024 * MIB

export const WORKLOADS: Workload[] = [
  { id: 'small-32', label: '1 KiB, 32 connections', kind: 'rate', bodyBytes: KIB, connections: 32 },
  { id: 'small-128', label: '1 KiB, 128 connections', kind: 'rate', bodyBytes: KIB, connections: 128 },
  { id: 'medium-16', label: '1 MiB, 16 connections', kind: 'rate', bodyBytes: MIB, connections: 16 },
  { id: 'large-1x1g', label: '1 GiB, one upload', kind: 'stream', bodyBytes: GIB, connections: 1 },
  { id: 'large-8x128m', label: '128 MiB, 8 concurrent uploads', kind: 'stream', bodyBytes: 128 * MIB, connections: 8 },
  { id: 'cold-100', label: '100 concurrent first requests', kind: 'cold', bodyBytes: KIB, connections: 100 },
  { id: 'keyed-32', label: '1 KiB, 32 connections, a unique Idempotency-Key per request, records in Redis', kind: 'keyed', bodyBytes: KIB, connections: 32 },
  { id: 'async-32', label: '1 KiB, 32 connections, Prefer: respond-async into an outbox on disk', kind: 'async', bodyBytes: KIB, connections: 32, durationSec: 3 }
]

/**
 * The keyed workload's three sides, in the same rounds (order rotated): the gateway with
 * REDIS_URL posting without a key (the baseline), the same gateway process with a unique
 * Idempotency-Key per request (claim and settle in Redis), and a gateway without REDIS_URL
 * with a unique key per request (records in its memory).
 */
export const KEYED_SIDES = ['unkeyed', 'keyed-redis', 'keyed-memory'] as const
export type KeyedSide = typeof KEYED_SIDES[number]

export interface KeyedOutcome {
  redis: { version: string, note: string }
  sides: Partial<Record<KeyedSide, RateOutcome>>
  /** CPU microseconds Redis spent per keyed request (keyed-redis rounds only). */
  redisCpuUs: number | undefined
}

/**
 * The store-and-forward workload's two sides, in the same rounds (order rotated), on one
 * gateway with OUTBOX_DIR: synchronous requests (no Prefer header, 201 from CIC: the
 * baseline) and `Prefer: respond-async` (202 once body and record are fsynced).
 */
export const ASYNC_SIDES = ['sync', 'async'] as const
export type AsyncSide = typeof ASYNC_SIDES[number]

/** One async round's backlog and its delivery from the outbox into the upstream. */
export interface DrainResult {
  /** 202s the gateway counted for the round (cic_gateway_documents_total, outcome accepted). */
  accepted: number
  /** Uploads that reached the upstream while the load ran, and the load's seconds. */
  deliveredDuringIntake: number
  intakeSec: number
  /** Documents still in the outbox (queued or delivering) and its stored bytes when the load stopped. */
  backlog: number
  backlogBytes: number
  /** Uploads from then until the outbox was empty, and how long that took (to the upstream's last 201). */
  delivered: number
  drainSec: number
  /** delivered / drainSec: documents per second from the outbox into the upstream (undefined: no backlog was left). */
  rate: number | undefined
  /** Gateway CPU microseconds per document delivered during the drain (no intake then). */
  cpuUsPerDelivery: number | undefined
}

export interface AsyncOutcome {
  outbox: {
    /** File system type and source of OUTBOX_DIR (tmpfs would make fsync free and the figure a lie). */
    filesystem: string
    source: string
    maxBytes: number
    concurrency: number
    /** Whether concurrency is the gateway's default OUTBOX_CONCURRENCY (not set by the bench). */
    concurrencyIsDefault: boolean
  }
  /** Seconds each side ran per round (shorter than the other rate points: every backlog is drained within the round). */
  durationSec: number
  sides: Partial<Record<AsyncSide, RateOutcome>>
  /** One per round, after its async side (the outbox was empty again before the next side ran). */
  drains: DrainResult[]
}

export interface RateOutcome {
  /** Medians over the rounds. */
  rps: number
  p50: number
  p99: number
  mbps: number
  /** CPU microseconds per request of the relay process (user + system, all threads), and of the load generator. */
  relayCpuUs: number | undefined
  loadCpuUs: number
  /** Non-2xx answers, errors and timeouts over all rounds. */
  failed: number
  /** The round whose rate is the median. */
  representative: RateResult
  samples: RateResult[]
}

export interface StreamOutcome extends StreamResult {
  ok: number
  /** RSS of the relay before the upload, its highest 100 ms sample, and VmHWM after (bytes). */
  rssBefore?: number | undefined
  maxRss?: number | undefined
  peakRss?: number | undefined
  /** CPU seconds (user + system, all threads) per GiB relayed: the relay's and the upstream's. */
  relayCpuPerGiB?: number | undefined
  upstreamCpuPerGiB?: number | undefined
}

export interface ColdOutcome extends ColdResult {
  logins: number
  folderLookups: number
  uploads: number
}

export interface BenchResults {
  startedAt: string
  finishedAt: string
  durationSec: number
  machine: { node: string, cpu: string, cores: number, memoryGiB: number, loadavgAtStart: number[] }
  commit: string | undefined
  settings: { rounds: number, durationSec: number, warmupSec: number }
  /** Whether the gateway refused a request without the caller key (issue 4 landed). */
  callerAuth: boolean
  nginx: { available: boolean, note: string }
  upstream: { kind: string, simulatorCheck?: { rps: number, p99: number } }
  rate: Record<string, Partial<Record<Scenario, RateOutcome>>>
  stream: Record<string, Partial<Record<Scenario, StreamOutcome>>>
  cold: ColdOutcome | undefined
  /** Idempotency-Key through Redis (absent in runs before it, or when redis-server is missing). */
  keyed?: KeyedOutcome | undefined
  /** Why the keyed workload did not run, when it was wanted. */
  keyedNote?: string
  /** Store and forward: async intake beside synchronous delivery, and the outbox's delivery rate (absent in runs before it). */
  async?: AsyncOutcome | undefined
  /** The long-running gateway during the rate workloads. */
  gatewayRateMemory?: { maxRss: number, hwm: number }
}
