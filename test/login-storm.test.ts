// Four replicas of one mailbox under load, against a CIC that allows one session per user
// (each login revokes the user's earlier tokens: the simulator's single-session mode).
// With REDIS_URL the replicas share one token, so a handful of logins serve every upload.
// Without it each replica's login revokes the others' tokens: the README's table of logins
// and failed requests with and without Redis comes from this test's comments.
import t from 'tap'
import { postDocument } from './helpers/http.js'
import { spawnGateway, type GatewayProcess } from './helpers/process.js'
import { startRedis } from './helpers/redis.js'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator, type Simulator } from '../src/simulator/index.js'

const REPLICAS = 4
const DOCUMENTS = 400
const CONCURRENCY = 16

interface Run {
  sim: Simulator
  statuses: Map<string, number>
  failed: number
}

async function run (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string>): Promise<Run> {
  const sim = await startSimulator({ singleSession: true, keepBodies: false })
  t.teardown(async () => { await sim.close() })
  // Load shedding off: on a busy 2-core machine a 503 overloaded says nothing about logins.
  const common = { CIC_BASE_URL: sim.url, CIC_USERNAME: DEMO_USERNAME, CIC_PASSWORD: DEMO_PASSWORD, MAX_EVENT_LOOP_DELAY_MS: '0', ...env }
  const gateways: GatewayProcess[] = await Promise.all(Array.from({ length: REPLICAS }, async () => {
    const gw = await spawnGateway(common, 30_000)
    t.teardown(() => { gw.child.kill('SIGKILL') })
    return gw
  }))
  const statuses = new Map<string, number>()
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < DOCUMENTS; i = next++) {
      const gw = gateways[i % REPLICAS]!
      let what: string
      try {
        const r = await postDocument(gw.url, `po-${i}.edi`, `order ${i}`)
        what = r.status === 201 ? '201' : `${r.status} ${problemCode(r.text)}`
      } catch (err) {
        what = `no answer (${(err as Error).message})`
      }
      statuses.set(what, (statuses.get(what) ?? 0) + 1)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return { sim, statuses, failed: DOCUMENTS - (statuses.get('201') ?? 0) }
}

function problemCode (text: string): string {
  try {
    return String((JSON.parse(text) as { type?: unknown }).type).replace(/.*:/, '')
  } catch {
    return 'not problem+json'
  }
}

function summary (r: Run): string {
  const c = r.sim.calls
  return `logins ${c.login}, uploads sent to CIC ${c.upload}, failed requests ${r.failed} (statuses ${JSON.stringify(Object.fromEntries(r.statuses))})`
}

t.test(`with REDIS_URL: ${REPLICAS} replicas, ${DOCUMENTS} documents at concurrency ${CONCURRENCY}, single-session CIC: every document 201, one shared login`, async t => {
  const redis = await startRedis(t)
  const r = await run(t, { REDIS_URL: redis.url })
  t.comment(`with Redis: ${summary(r)}`)
  t.equal(r.statuses.get('201'), DOCUMENTS, `every document delivered (${JSON.stringify(Object.fromEntries(r.statuses))})`)
  // One login serves all four (measured: 1); a second is tolerated, for a login lock that lapsed on a stalled machine.
  t.ok(r.sim.calls.login <= 2, `no login storm: ${r.sim.calls.login} logins for ${REPLICAS} replicas`)
  // A second login would revoke the token of the uploads then in flight: each is replayed once.
  t.ok(r.sim.calls.upload <= DOCUMENTS + CONCURRENCY, `uploads refused for a revoked token are few: ${r.sim.calls.upload} sent for ${DOCUMENTS}`)
})

t.test('without REDIS_URL (measured for the README): each replica\'s login revokes the others\' tokens', async t => {
  const r = await run(t, {})
  t.comment(`without Redis: ${summary(r)}`)
  // Each replica logs in at least once, and the revocations make them log in again.
  t.ok(r.sim.calls.login > REPLICAS, `more logins than replicas: ${r.sim.calls.login}`)
})
