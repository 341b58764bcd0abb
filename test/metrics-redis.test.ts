// cic_gateway_idempotency_store_up, what an alert on the shared store reads: a real gateway
// process with REDIS_URL to a real redis-server, scraped while Redis runs, after it is
// stopped, and after it is started again; absent without REDIS_URL (nothing is shared).
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { spawnGateway, type GatewayProcess } from './helpers/process.js'
import { startRedis } from './helpers/redis.js'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator } from '../src/simulator/index.js'

const GAUGE = 'cic_gateway_idempotency_store_up'

async function gauge (gw: GatewayProcess): Promise<string | undefined> {
  const text = await (await fetch(`${gw.url}/metrics`)).text()
  return new RegExp(`^${GAUGE} (\\S+)$`, 'm').exec(text)?.[1]
}

/** The gauge's value once it reads `want` (polled: Redis's state reaches the gateway through its connection's events), or the last value read. */
/** Whether a redis.state line with `up` was logged (stdout is flushed in batches: polled). */
async function logged (gw: GatewayProcess, up: boolean): Promise<boolean> {
  for (let i = 0; i < 150; i++) {
    if (gw.lines.some(l => l.event === 'redis.state' && l.up === up)) return true
    await sleep(100)
  }
  return false
}

async function settlesAt (gw: GatewayProcess, want: string): Promise<string | undefined> {
  let value = await gauge(gw)
  for (let i = 0; i < 150 && value !== want; i++) {
    await sleep(100)
    value = await gauge(gw)
  }
  return value
}

t.test(`${GAUGE} reads 1 while Redis answers, 0 once it is stopped, 1 again when it is back`, async t => {
  const redis = await startRedis(t)
  const sim = await startSimulator()
  t.teardown(async () => { await sim.close() })
  const gw = await spawnGateway({ CIC_BASE_URL: sim.url, CIC_USERNAME: DEMO_USERNAME, CIC_PASSWORD: DEMO_PASSWORD, REDIS_URL: redis.url })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  t.equal(await settlesAt(gw, '1'), '1', 'up')
  const text = await (await fetch(`${gw.url}/metrics`)).text()
  t.match(text, `# TYPE ${GAUGE} gauge`)
  await redis.stop()
  t.equal(await settlesAt(gw, '0'), '0', 'down: Redis stopped')
  t.ok(await logged(gw, false), 'and a redis.state line says so')
  await redis.start()
  t.equal(await settlesAt(gw, '1'), '1', 'up again without a restart')
  t.ok(await logged(gw, true), 'a redis.state line says it is back')
})

t.test(`without REDIS_URL there is no ${GAUGE} series (no shared store to watch)`, async t => {
  const sim = await startSimulator()
  t.teardown(async () => { await sim.close() })
  const gw = await spawnGateway({ CIC_BASE_URL: sim.url, CIC_USERNAME: DEMO_USERNAME, CIC_PASSWORD: DEMO_PASSWORD })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  t.equal(await gauge(gw), undefined)
})
