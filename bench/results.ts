// The shape of bench/results/*.json, and the workloads and scenarios it covers.
import type { ColdResult, RateResult, StreamResult } from './jobs.js'

// bare-node: bench/bare-relay.ts, the floor of any relay written in Node (no product features).
export const SCENARIOS = ['direct', 'gateway', 'generic-proxy', 'bare-node', 'nginx'] as const
export type Scenario = typeof SCENARIOS[number]

export interface Workload {
  id: string
  label: string
  kind: 'rate' | 'stream' | 'cold' | 'keyed'
  bodyBytes: number
  /** Connections (rate) or concurrent uploads (stream, cold). */
  connections: number
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
  { id: 'keyed-32', label: '1 KiB, 32 connections, a unique Idempotency-Key per request, records in Redis', kind: 'keyed', bodyBytes: KIB, connections: 32 }
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
  /** The long-running gateway during the rate workloads. */
  gatewayRateMemory?: { maxRss: number, hwm: number }
}
