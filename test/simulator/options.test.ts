// The simulator's options, faults and SIMULATOR_* variables are each checked by one schema:
// every mistake is named in one error, and a refused change changes nothing.
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { request } from 'undici'
import { startSimulator } from '../../src/simulator/index.js'

t.test('startSimulator names every bad option at once', async t => {
  const err = await startSimulator({ pageSize: 0, sameNamePolicy: 'sometimes' as any, randomFaults: { rate: 2 }, allowedExtensions: ['.'] }).then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof TypeError)
  const msg = (err as Error).message
  t.match(msg, /simulator option pageSize must be >= 1/)
  t.match(msg, /simulator option sameNamePolicy must be one of overwrite, reject, rename/)
  t.match(msg, /simulator option randomFaults\.rate must be <= 1/)
  t.match(msg, /simulator option allowedExtensions\.0/)
})

t.test('faults: every bad field named at once; a fault must do something', async t => {
  const sim = await startSimulator()
  t.teardown(() => sim.close())
  t.throws(() => sim.inject('upload', { status: 99, delayMs: -1, drop: 'later' as any }), /fault\.status must be >= 200; fault\.delayMs must be >= 0; fault\.drop must be one of immediately, mid-body, after-store/)
  t.throws(() => sim.inject('upload', { times: 2, truncate: false }), /fault needs at least one of status, drop, delayMs, truncate/)
  sim.inject('upload', { truncate: true, times: 1 })
  t.same(sim.pendingFaults().upload, [{ truncate: true, times: 1 }])
})

t.test('PUT /_sim/options: every mistake named in one 400, and then nothing changes', async t => {
  const sim = await startSimulator()
  t.teardown(() => sim.close())
  const put = async (json: unknown): Promise<{ status: number, body: any }> => {
    const res = await request(`${sim.url}/_sim/options`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) })
    return { status: res.statusCode, body: await res.body.json() }
  }
  const bad = await put({ pageSize: 3, keepBodies: 'yes', colour: 'blue', tokenLifetimeSeconds: null })
  t.equal(bad.status, 400)
  for (const expected of [/keepBodies must be boolean/, /unknown simulator option colour/, /tokenLifetimeSeconds must be integer/]) t.match(bad.body.message, expected)
  t.equal(sim.settings.pageSize, 10, 'the good setting of a refused request is not applied')
  const good = await put({ pageSize: 3, maxFileBytes: 100, allowedExtensions: ['EDI', '.x12'] })
  t.equal(good.status, 200)
  t.match(sim.settings, { pageSize: 3, maxFileBytes: 100, allowedExtensions: ['.edi', '.x12'] })
  t.equal((await put({ maxFileBytes: null })).status, 200, 'null clears an optional setting')
  t.equal(sim.settings.maxFileBytes, undefined)
})

t.test('the standalone runner names every bad SIMULATOR_* variable at once', async t => {
  const child = spawn(process.execPath, [...process.execArgv, 'src/simulator/main.ts'], {
    env: { ...process.env, SIMULATOR_PORT: '70000', SIMULATOR_PAGE_SIZE: '0', SIMULATOR_KEEP_BODIES: 'perhaps', SIMULATOR_FAULT_RATE: '1.5' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  const line = JSON.parse(out.trim())
  t.equal(line.msg, 'CIC simulator failed to start')
  for (const name of ['SIMULATOR_PORT', 'SIMULATOR_PAGE_SIZE', 'SIMULATOR_KEEP_BODIES', 'SIMULATOR_FAULT_RATE']) t.match(line.err, name)
})
