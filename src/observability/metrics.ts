// Prometheus metrics: one Registry per gateway (tests run many gateways in one process),
// plus the process-wide default metrics, which describe the process and are registered once.
// Other layers never import prom-client: they call the small interfaces defined here
// (src/cic gets a plain callback, see CicClient's observer).
/* eslint-disable no-new -- a gauge with collect() registers itself in the registry; nothing else holds it */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * What happened to one POST of a document, from an operator's point of view:
 *  - delivered: CIC confirmed it (201);
 *  - refused:   not delivered because of the request (4xx: bad filename, empty, too large, name exists);
 *  - failed:    not delivered, CIC or the gateway in trouble (5xx with delivered "no"): safe to resend;
 *  - unknown:   CIC may hold it (delivered "unknown"): someone has to check;
 *  - replayed:  a repeat with a known Idempotency-Key, answered 201 without a new upload.
 */
export type DocumentOutcome = 'delivered' | 'accepted' | 'refused' | 'failed' | 'unknown' | 'replayed'

export type CircuitState = 'closed' | 'open' | 'half-open'
export const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'open', 'half-open']

/** How a document request ended: the status we answered, and the problem code and `delivered` when it failed. */
export interface DocumentResult {
  status: number
  code?: string
  delivered?: 'no' | 'unknown'
  /** Bytes CIC confirmed, for a delivered document. */
  bytes?: number
  /** Answered from the idempotency store (or found in CIC) without uploading again. */
  replayed?: boolean
}

/** Returned by documentStarted(); finish() exactly once, in a finally. */
export interface DocumentTracker {
  finish (result: DocumentResult): void
}

/** What the HTTP layer needs. */
export interface DocumentMetrics {
  documentStarted (mailbox: string): DocumentTracker
}

/** One finished call to CIC, as CicClient reports it. */
export interface CicCallSample {
  operation: string
  /** CIC's HTTP status, when CIC answered completely; undefined for a transport failure or a cut-short answer. */
  status: number | undefined
  durationSeconds: number
}

export const METRIC_PREFIX = 'cic_gateway_'

const UPLOAD_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900]
const CIC_CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

/** Why outbox deliveries usually fail: CIC's refusals, and OUTBOX_MAX_AGE_SECONDS passing. */
const OUTBOX_FAILURE_CODES = ['cic-rejected', 'cic-file-too-large', 'cic-file-exists', 'outbox-expired', 'outbox-corrupt']

/** A label value for any mailbox name: configured names as they are, anything else collapsed (bounded cardinality). */
const OTHER_MAILBOX = 'other'

export function documentOutcome (result: DocumentResult): DocumentOutcome {
  // 202: kept in the outbox (a repeat of its key counts as replayed); the outbox counts its delivery.
  if (result.status === 202) return result.replayed === true ? 'replayed' : 'accepted'
  if (result.status >= 200 && result.status < 300) return result.replayed === true ? 'replayed' : 'delivered'
  if (result.delivered === 'unknown') return 'unknown'
  return result.status < 500 ? 'refused' : 'failed'
}

/** "2xx".."5xx" for an answer, "error" when CIC gave none (unreachable, timeout, reset, truncated). */
export function statusClass (status: number | undefined): string {
  return status === undefined ? 'error' : `${Math.floor(status / 100)}xx`
}

let processRegistry: Registry | undefined

/** Default process metrics (process_*, nodejs_*), once per process: their collectors never stop, so one set is enough. */
function defaultMetricsRegistry (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

export interface MetricsOptions {
  /** The configured mailbox names: series start at 0 for each, other names are labelled "other". */
  mailboxes: readonly string[]
  /** Read at each scrape for cic_gateway_spool_bytes. */
  spool?: { readonly bytesInUse: number }
  /** With REDIS_URL: read at each scrape for cic_gateway_idempotency_store_up. */
  sharedStore?: { readonly up: boolean }
  /** With an outbox (OUTBOX_DIR, demo mode): the cic_gateway_outbox_* series are exported. */
  outbox?: boolean
}

/** What the outbox metrics read at each scrape (the Outbox, once it is open). */
export interface OutboxGauges {
  oldestQueuedAgeSeconds (): number
  /** Deliveries per state. */
  stateCounts (): Record<'queued' | 'delivering' | 'delivered' | 'failed', number>
  /** Bytes held against OUTBOX_MAX_BYTES (stored bodies and accepts in progress). */
  readonly bytesInUse: number
  /** OUTBOX_MAX_BYTES. */
  readonly capacityBytes: number
}

/** A delivery's state change, as the outbox reports it (onChange). */
export interface OutboxChange {
  id: string
  state: string
  mailbox: string
  bytes: number
  lastError?: { code: string }
}

export class Metrics implements DocumentMetrics {
  /** What GET /metrics renders: this gateway's metrics and the process's default metrics. */
  readonly registry: Registry
  private readonly mailboxes: ReadonlySet<string>
  private readonly documents: Counter<'mailbox' | 'outcome' | 'code'>
  private readonly deliveredBytes: Counter<'mailbox'>
  private readonly uploadDuration: Histogram<'mailbox' | 'outcome'>
  private readonly inFlight: Gauge<'mailbox'>
  private readonly cicCalls: Histogram<'operation' | 'status_class'>
  private readonly logins: Counter<'mailbox' | 'result'>
  private readonly circuit: Gauge<'mailbox' | 'state'>
  private readonly replays: Counter<'mailbox'>
  private readonly outboxFailed?: Counter<'mailbox' | 'code'>
  private readonly outboxDelivered?: Counter<'mailbox'>
  private outboxSource?: OutboxGauges
  /** The last state counted per delivery, so a repeated notification is not counted twice. */
  private readonly outboxStates = new Map<string, string>()

  constructor (opts: MetricsOptions) {
    const own = new Registry()
    const registers = [own]
    this.mailboxes = new Set(opts.mailboxes)
    this.documents = new Counter({
      name: `${METRIC_PREFIX}documents_total`,
      help: 'Documents posted to the gateway, by mailbox and outcome (delivered, refused, failed, unknown, replayed); code is the problem type of a document not delivered.',
      labelNames: ['mailbox', 'outcome', 'code'],
      registers
    })
    this.deliveredBytes = new Counter({
      name: `${METRIC_PREFIX}delivered_bytes_total`,
      help: 'Bytes of documents CIC confirmed (201), by mailbox.',
      labelNames: ['mailbox'],
      registers
    })
    this.uploadDuration = new Histogram({
      name: `${METRIC_PREFIX}upload_duration_seconds`,
      help: 'Time from a document request\'s arrival to the gateway\'s answer (reading the body, login/folder lookup when not cached, the upload to CIC), by mailbox and outcome.',
      labelNames: ['mailbox', 'outcome'],
      buckets: UPLOAD_BUCKETS,
      registers
    })
    this.inFlight = new Gauge({
      name: `${METRIC_PREFIX}uploads_in_flight`,
      help: 'Document requests being handled right now, by mailbox.',
      labelNames: ['mailbox'],
      registers
    })
    this.cicCalls = new Histogram({
      name: `${METRIC_PREFIX}cic_request_duration_seconds`,
      help: 'Duration of calls to CIC by operation (login, folders, children, upload) and status class (2xx..5xx, or error when CIC gave no complete answer).',
      labelNames: ['operation', 'status_class'],
      buckets: CIC_CALL_BUCKETS,
      registers
    })
    this.logins = new Counter({
      name: `${METRIC_PREFIX}cic_logins_total`,
      help: 'Logins to CIC by mailbox and result (success, failure). Tokens are cached: a steady rate means tokens expire normally, a burst means revocations or failures.',
      labelNames: ['mailbox', 'result'],
      registers
    })
    this.circuit = new Gauge({
      name: `${METRIC_PREFIX}circuit_state`,
      help: 'Circuit breaker state towards CIC per mailbox: 1 for the current state (closed, open, half-open), 0 for the others.',
      labelNames: ['mailbox', 'state'],
      registers
    })
    this.replays = new Counter({
      name: `${METRIC_PREFIX}idempotent_replays_total`,
      help: 'Requests answered from the idempotency store (same Idempotency-Key) instead of uploading again, by mailbox.',
      labelNames: ['mailbox'],
      registers
    })
    const sharedStore = opts.sharedStore
    if (sharedStore !== undefined) {
      new Gauge({
        name: `${METRIC_PREFIX}idempotency_store_up`,
        help: 'Whether the shared Idempotency-Key store (Redis) answers: 1 up, 0 down (keyed requests then get 503; unkeyed ones are delivered).',
        registers,
        collect () { this.set(sharedStore.up ? 1 : 0) }
      })
    }
    if (opts.outbox === true) {
      this.outboxFailed = new Counter({
        name: `${METRIC_PREFIX}outbox_failed_total`,
        help: 'Deliveries from the outbox that became failed (CIC refused them, or OUTBOX_MAX_AGE_SECONDS passed), by mailbox and problem code; each waits for POST /deliveries/{id}/retry.',
        labelNames: ['mailbox', 'code'],
        registers
      })
      this.outboxDelivered = new Counter({
        name: `${METRIC_PREFIX}outbox_delivered_total`,
        help: 'Documents the outbox delivered to CIC (201, or found there by reconciliation), by mailbox.',
        labelNames: ['mailbox'],
        registers
      })
      const gauges = (): OutboxGauges | undefined => this.outboxSource
      new Gauge({
        name: `${METRIC_PREFIX}outbox_oldest_queued_seconds`,
        help: 'Age of the oldest document in the outbox not yet delivered (queued or delivering), 0 when none: alert when it grows.',
        registers,
        collect () { this.set(gauges()?.oldestQueuedAgeSeconds() ?? 0) }
      })
      new Gauge({
        name: `${METRIC_PREFIX}outbox_queued_documents`,
        help: 'Documents in the outbox waiting for delivery (queued or delivering); drain a pod until this is 0 before removing its volume.',
        registers,
        collect () {
          const counts = gauges()?.stateCounts()
          this.set((counts?.queued ?? 0) + (counts?.delivering ?? 0))
        }
      })
      new Gauge({
        name: `${METRIC_PREFIX}outbox_failed_documents`,
        help: 'Failed deliveries kept in the outbox (body on disk) until POST /deliveries/{id}/retry or their status expires.',
        registers,
        collect () { this.set(gauges()?.stateCounts().failed ?? 0) }
      })
      new Gauge({
        name: `${METRIC_PREFIX}outbox_stored_bytes`,
        help: 'Bytes the outbox holds (documents queued, delivering or failed, and accepts in progress), against cic_gateway_outbox_capacity_bytes.',
        registers,
        collect () { this.set(gauges()?.bytesInUse ?? 0) }
      })
      new Gauge({
        name: `${METRIC_PREFIX}outbox_capacity_bytes`,
        help: 'OUTBOX_MAX_BYTES: past it, Prefer: respond-async requests get 503 + Retry-After.',
        registers,
        collect () { this.set(gauges()?.capacityBytes ?? 0) }
      })
    }
    const spool = opts.spool
    new Gauge({
      name: `${METRIC_PREFIX}spool_bytes`,
      help: 'Bytes of documents of unknown length spooled to disk right now (SPOOL_DIR).',
      registers,
      collect () { this.set(spool?.bytesInUse ?? 0) }
    })

    // Every mailbox's series exist from the start, so rate() and alerts see a 0, not nothing.
    for (const mailbox of this.mailboxes) {
      this.documents.inc({ mailbox, outcome: 'delivered' }, 0)
      this.deliveredBytes.inc({ mailbox }, 0)
      this.inFlight.set({ mailbox }, 0)
      for (const result of ['success', 'failure']) this.logins.inc({ mailbox, result }, 0)
      this.replays.inc({ mailbox }, 0)
      this.outboxDelivered?.inc({ mailbox }, 0)
      // The permanent refusals start at 0, so increase() sees the first failure of each.
      for (const code of OUTBOX_FAILURE_CODES) this.outboxFailed?.inc({ mailbox, code }, 0)
      this.setCircuitState(mailbox, 'closed')
    }
    this.registry = Registry.merge([own, defaultMetricsRegistry()])
  }

  documentStarted (mailbox: string): DocumentTracker {
    const label = this.label(mailbox)
    const started = process.hrtime.bigint()
    let finished = false
    this.inFlight.inc({ mailbox: label })
    return {
      finish: (result) => {
        if (finished) return
        finished = true
        this.inFlight.dec({ mailbox: label })
        const outcome = documentOutcome(result)
        const seconds = Number(process.hrtime.bigint() - started) / 1e9
        this.uploadDuration.observe({ mailbox: label, outcome }, seconds)
        if (outcome === 'delivered') {
          this.documents.inc({ mailbox: label, outcome })
          this.deliveredBytes.inc({ mailbox: label }, result.bytes ?? 0)
        } else if (outcome === 'replayed') {
          this.documents.inc({ mailbox: label, outcome })
          this.replays.inc({ mailbox: label })
        } else if (outcome === 'accepted') {
          this.documents.inc({ mailbox: label, outcome })
        } else {
          this.documents.inc({ mailbox: label, outcome, code: result.code ?? 'unknown' })
        }
      }
    }
  }

  /** The observer CicClient calls once per CIC call. */
  readonly cicCall = (sample: CicCallSample): void => {
    this.cicCalls.observe({ operation: sample.operation, status_class: statusClass(sample.status) }, sample.durationSeconds)
  }

  login (mailbox: string, result: 'success' | 'failure'): void {
    this.logins.inc({ mailbox: this.label(mailbox), result })
  }

  /** For the circuit breaker: call on every state change. */
  setCircuitState (mailbox: string, state: CircuitState): void {
    const label = this.label(mailbox)
    for (const s of CIRCUIT_STATES) this.circuit.set({ mailbox: label, state: s }, s === state ? 1 : 0)
  }

  /** The open outbox, read at each scrape for the outbox gauges. */
  watchOutbox (source: OutboxGauges): void {
    this.outboxSource = source
  }

  /** The outbox's onChange: counts deliveries that became delivered or failed. */
  readonly outboxChange = (change: OutboxChange): void => {
    const mailbox = this.label(change.mailbox)
    const before = this.outboxStates.get(change.id)
    if (change.state === 'delivered') this.outboxStates.delete(change.id)
    else this.outboxStates.set(change.id, change.state)
    if (before === change.state) return
    if (change.state === 'failed') this.outboxFailed?.inc({ mailbox, code: change.lastError?.code ?? 'unknown' })
    else if (change.state === 'delivered') this.outboxDelivered?.inc({ mailbox })
  }

  get contentType (): string {
    return this.registry.contentType
  }

  /** The Prometheus text exposition of every metric. */
  async render (): Promise<string> {
    return await this.registry.metrics()
  }

  private label (mailbox: string): string {
    return this.mailboxes.has(mailbox) ? mailbox : OTHER_MAILBOX
  }
}
