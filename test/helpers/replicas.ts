// Two real gateway processes (two replicas) on one real Redis (with a password) and one
// simulator (same-name uploads renamed, so a duplicate shows as "x (1).edi").
import { spawnGateway, type GatewayProcess } from './process.js'
import { startRedis, type RedisServer } from './redis.js'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator, type Simulator } from '../../src/simulator/index.js'

export const REDIS_PASSWORD = 'redis-pass-9c1f7e2a44d0'

export interface Replicas {
  sim: Simulator
  a: GatewayProcess
  b: GatewayProcess
  redis: RedisServer
}

export async function startReplicas (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string> = {}): Promise<Replicas> {
  const redis = await startRedis(t, { password: REDIS_PASSWORD })
  const sim = await startSimulator({ keepBodies: true, sameNamePolicy: 'rename' })
  t.teardown(async () => { await sim.close() })
  const common = {
    CIC_BASE_URL: sim.url,
    CIC_USERNAME: DEMO_USERNAME,
    CIC_PASSWORD: DEMO_PASSWORD,
    CIC_RETRIES: '0',
    REDIS_URL: redis.url,
    REDIS_PASSWORD,
    IDEMPOTENCY_LEASE_SECONDS: '2',
    ...env
  }
  const a = await spawnGateway(common, 20_000, [REDIS_PASSWORD])
  t.teardown(() => { a.child.kill('SIGKILL') })
  const b = await spawnGateway(common, 20_000, [REDIS_PASSWORD])
  t.teardown(() => { b.child.kill('SIGKILL') })
  return { sim, a, b, redis }
}

/** Copies of a document CIC holds under its name or a renamed one ("x (1).edi"). */
export function copies (sim: Simulator, name: string): number {
  const stem = name.replace(/\.edi$/, '')
  return sim.files().filter(f => f.name === name || f.name.startsWith(`${stem} (`)).length
}
