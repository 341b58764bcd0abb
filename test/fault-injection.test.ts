// Every fault the simulator can inject, at every step of a delivery: what the caller sees,
// what CIC holds, and that a retry with the same Idempotency-Key ends with exactly one copy.
// undici's headers timeout runs on coarse timers (up to ~1 s late): delays go well past it.
import tap from 'tap'

type Tap = Parameters<Extract<Parameters<typeof tap.test>[0], (t: any) => any>>[0]
import type { Fault, Operation } from '../src/simulator/index.js'
import { postDocument } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

interface Expect {
  status: number
  type: string
  delivered: 'no' | 'unknown'
  /** Copies CIC holds right after the failed request. */
  held: 0 | 1
}

const LOOKUP_FAULTS: Array<[string, Fault, Omit<Expect, 'held'>]> = [
  ['500', { status: 500 }, { status: 502, type: 'cic-error', delivered: 'no' }],
  ['503', { status: 503 }, { status: 503, type: 'cic-unavailable', delivered: 'no' }],
  ['429', { status: 429, headers: { 'retry-after': '0' } }, { status: 503, type: 'cic-rate-limited', delivered: 'no' }],
  ['delay past the timeout', { delayMs: 2500 }, { status: 504, type: 'cic-timeout', delivered: 'no' }],
  ['dropped connection', { drop: 'immediately' }, { status: 502, type: 'cic-connection-lost', delivered: 'no' }],
  ['dropped after processing', { drop: 'after-store' }, { status: 502, type: 'cic-connection-lost', delivered: 'no' }],
  ['truncated answer', { truncate: true }, { status: 502, type: 'cic-bad-response', delivered: 'no' }]
]

const UPLOAD_FAULTS: Array<[string, Fault, Expect]> = [
  ['500', { status: 500 }, { status: 502, type: 'cic-error', delivered: 'unknown', held: 0 }],
  ['503', { status: 503 }, { status: 503, type: 'cic-unavailable', delivered: 'no', held: 0 }],
  ['429', { status: 429, headers: { 'retry-after': '0' } }, { status: 503, type: 'cic-rate-limited', delivered: 'no', held: 0 }],
  ['400 (file type refused)', { status: 400 }, { status: 502, type: 'cic-rejected', delivered: 'no', held: 0 }],
  ['delay past the timeout', { delayMs: 2500 }, { status: 504, type: 'cic-timeout', delivered: 'unknown', held: 1 }],
  ['dropped connection', { drop: 'immediately' }, { status: 502, type: 'cic-connection-lost', delivered: 'unknown', held: 0 }],
  ['dropped mid-body', { drop: 'mid-body' }, { status: 502, type: 'cic-connection-lost', delivered: 'unknown', held: 0 }],
  ['dropped after storing', { drop: 'after-store' }, { status: 502, type: 'cic-connection-lost', delivered: 'unknown', held: 1 }],
  ['truncated 201', { truncate: true }, { status: 502, type: 'cic-bad-response', delivered: 'unknown', held: 1 }]
]

const ENV = { CIC_HEADERS_TIMEOUT_MS: '300', CIC_RETRY_BASE_DELAY_MS: '5', CIC_RETRY_MAX_DELAY_MS: '50', CIRCUIT_FAILURE_THRESHOLD: '100' }
const BODY = Buffer.alloc(32 * 1024, 'q')

async function run (t: Tap, step: Operation, label: string, fault: Fault, expect: Expect): Promise<void> {
  const stack = await startStack(t, { env: ENV, sim: { keepBodies: true } })
  if (step === 'upload') t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  const warmFiles = stack.sim.files().length
  // Persistent: more than the gateway's retries.
  stack.sim.inject(step, { ...fault, times: 10 })
  const res = await postDocument(stack.url, 'doc.edi', BODY, { 'idempotency-key': `key-${step}-${label.replace(/\W+/g, '-')}` })
  t.equal(res.status, expect.status, 'caller status')
  const problem = res.json()
  t.equal(problem.type, `urn:cic-gateway:problem:${expect.type}`, 'problem type')
  t.equal(problem.delivered, expect.delivered, 'delivered')
  t.equal(stack.sim.files().length - warmFiles, expect.held, 'what CIC holds after the failure')
  if (expect.delivered === 'no') t.ok(res.headers['retry-after'] !== undefined || expect.status !== 503, 'a 503 carries Retry-After')

  // The caller follows the contract: resend with the same key once CIC is healthy.
  stack.sim.clearFaults()
  const retry = await postDocument(stack.url, 'doc.edi', BODY, { 'idempotency-key': `key-${step}-${label.replace(/\W+/g, '-')}` })
  t.equal(retry.status, 201, 'the resend succeeds')
  const copies = stack.sim.files().filter(f => f.name === 'doc.edi')
  t.equal(copies.length, 1, 'CIC holds exactly one copy')
  t.same(copies[0]?.data, BODY, 'complete')
  // warm-up + the attempts the contract allows + one resend unless CIC already held the document.
  const expected = (step === 'upload' ? 1 + countAttempts(fault) : 0) + (expect.held === 1 ? 0 : 1)
  t.equal(stack.sim.calls.upload, expected, 'no upload beyond the contract')
  if (expect.held === 1) t.equal(retry.headers['idempotent-replayed'], 'reconciled', 'settled from the upload folder')
}

/** Upload attempts the gateway makes for one request under a persistent upload fault. */
function countAttempts (fault: Fault): number {
  // Only faults meaning "certainly not stored" (503, 429) are retried: 1 + CIC_RETRIES (2).
  return fault.status === 503 || fault.status === 429 ? 3 : 1
}

for (const step of ['login', 'folders', 'children'] as const) {
  for (const [label, fault, expect] of LOOKUP_FAULTS) {
    tap.test(`${step}: ${label}`, async t => { await run(t, step, label, fault, { ...expect, held: 0 }) })
  }
}
for (const [label, fault, expect] of UPLOAD_FAULTS) {
  tap.test(`upload: ${label}`, async t => { await run(t, 'upload', label, fault, expect) })
}
