// Fault injection over real HTTP: statuses, drops, truncation, delays, random faults.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js'

const MiB = 1024 * 1024

interface Outcome {
  status?: number
  headers?: Record<string, string | string[] | undefined>
  text?: string
  /** Set when the request or the response body failed (connection dropped, truncated body). */
  error?: string
}

async function start (t: Test, options?: SimulatorOptions): Promise<{ sim: Simulator, token: string }> {
  const sim = await startSimulator(options)
  t.teardown(() => sim.close())
  const login = await attempt(sim, 'POST', '/api/authentication', { 'content-type': 'application/x-www-form-urlencoded' }, form())
  return { sim, token: JSON.parse(login.text ?? '{}').access_token }
}

function form (): string {
  return new URLSearchParams({ grant_type: 'password', username: DEMO_USERNAME, password: DEMO_PASSWORD }).toString()
}

/** Never throws: connection-level failures become `error`, keeping whatever arrived before. */
async function attempt (sim: Simulator, method: 'GET' | 'POST', path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Outcome> {
  const outcome: Outcome = {}
  try {
    const res = await request(`${sim.url}${path}`, { method, headers, body })
    outcome.status = res.statusCode
    outcome.headers = res.headers
    outcome.text = await res.body.text()
  } catch (error) {
    outcome.error = (error as Error).name
  }
  return outcome
}

function folders (sim: Simulator, token: string): Promise<Outcome> {
  return attempt(sim, 'GET', '/api/folders', { authorization: `Bearer ${token}` })
}

function upload (sim: Simulator, token: string, name: string, body: string | Buffer): Promise<Outcome> {
  return attempt(sim, 'POST', `/api/folders/${sim.mailbox(DEMO_USERNAME).uploadId}/files`, {
    authorization: `Bearer ${token}`,
    'content-disposition': `attachment;filename=${name}`,
    'content-type': 'application/octet-stream'
  }, body)
}

t.test('status faults apply to the next `times` calls, with headers and body', async t => {
  const { sim, token } = await start(t)
  sim.inject('folders', { status: 503, times: 2 })
  const first = await folders(sim, token)
  t.equal(first.status, 503)
  t.same(JSON.parse(first.text ?? ''), { message: 'Service Unavailable' })
  t.equal((await folders(sim, token)).status, 503)
  t.equal((await folders(sim, token)).status, 200, 'then back to normal')
  t.equal(sim.calls.folders, 3, 'faulted calls are counted')

  sim.inject('folders', { status: 429, headers: { 'Retry-After': '1' }, body: 'slow down' })
  const limited = await folders(sim, token)
  t.equal(limited.status, 429)
  t.equal(limited.headers?.['retry-after'], '1')
  t.equal(limited.text, 'slow down')
  t.match(limited.headers?.['content-type'], /^text\/plain/)
  t.same(sim.requests.filter(r => r.fault !== undefined).map(r => r.fault?.status), [503, 503, 429], 'the log shows applied faults')
})

t.test('faults queue in order; status faults skip auth and store nothing', async t => {
  const { sim, token } = await start(t)
  sim.inject('upload', { status: 500 })
  sim.inject('upload', { status: 401, body: '{"message":"Token is no longer valid"}' })
  const failed = await upload(sim, token, 'a.edi', Buffer.alloc(MiB))
  t.equal(failed.status, 500)
  const unauth = await upload(sim, 'garbage', 'a.edi', 'x')
  t.equal(unauth.status, 401)
  t.match(unauth.headers?.['content-type'], /^application\/json/)
  t.equal((await upload(sim, token, 'a.edi', 'x')).status, 201)
  t.same(sim.files().map(f => f.size), [1])
})

t.test('drop immediately: no response at all', async t => {
  const { sim } = await start(t)
  sim.inject('login', { drop: 'immediately' })
  const dropped = await attempt(sim, 'POST', '/api/authentication', { 'content-type': 'application/x-www-form-urlencoded' }, form())
  t.equal(dropped.status, undefined)
  t.type(dropped.error, 'string')
  t.equal(sim.calls.login, 2, 'counted (one login in start, one dropped)')
  const again = await attempt(sim, 'POST', '/api/authentication', { 'content-type': 'application/x-www-form-urlencoded' }, form())
  t.equal(again.status, 200)
})

t.test('drop mid-body: the connection dies during the upload, nothing stored', async t => {
  const { sim, token } = await start(t)
  sim.inject('upload', { drop: 'mid-body' })
  const dropped = await upload(sim, token, 'mid.edi', Buffer.alloc(8 * MiB))
  t.equal(dropped.status, undefined)
  t.type(dropped.error, 'string')
  t.equal(sim.files().length, 0)
  t.equal(sim.requests.at(-1)?.fault?.drop, 'mid-body')
  t.equal((await upload(sim, token, 'mid.edi', 'x')).status, 201)
})

t.test('drop after-store: stored, but the caller never hears back', async t => {
  const { sim, token } = await start(t)
  sim.inject('upload', { drop: 'after-store' })
  const outcome = await upload(sim, token, 'unknown-outcome.edi', 'payload')
  t.equal(outcome.status, undefined)
  t.type(outcome.error, 'string')
  t.same(sim.files().map(f => [f.name, f.data?.toString()]), [['unknown-outcome.edi', 'payload']], 'the file is there')
})

t.test('truncate: headers with the full Content-Length, half the body, then a dead connection', async t => {
  const { sim, token } = await start(t)
  sim.inject('upload', { truncate: true })
  const outcome = await upload(sim, token, 'cut.edi', 'payload')
  t.equal(outcome.status, 201, 'the status line arrived')
  t.type(outcome.error, 'string', 'reading the body failed')
  t.equal(sim.files().length, 1, 'stored')

  sim.inject('login', { truncate: true })
  const login = await attempt(sim, 'POST', '/api/authentication', { 'content-type': 'application/x-www-form-urlencoded' }, form())
  t.equal(login.status, 200)
  t.type(login.error, 'string')
})

t.test('delays: before answering, after the upload body was read', async t => {
  const { sim, token } = await start(t)
  sim.inject('folders', { delayMs: 300 })
  let started = Date.now()
  t.equal((await folders(sim, token)).status, 200)
  t.ok(Date.now() - started >= 290, 'folders answer delayed')

  sim.inject('upload', { delayMs: 300 })
  started = Date.now()
  t.equal((await upload(sim, token, 'late.edi', 'x')).status, 201)
  const answeredAt = Date.now()
  const [file] = sim.files()
  t.ok(answeredAt - (file?.receivedAt ?? answeredAt) >= 290, 'stored first, answered later')
  t.ok((file?.receivedAt ?? 0) - started < 250, 'the body was read right away')

  sim.inject('children', { status: 503, delayMs: 200 })
  started = Date.now()
  const slowFailure = await attempt(sim, 'GET', `/api/folders/${sim.mailbox(DEMO_USERNAME).homeId}/children`, { authorization: `Bearer ${token}` })
  t.equal(slowFailure.status, 503)
  t.ok(Date.now() - started >= 190)
})

t.test('clearFaults, pendingFaults and reset', async t => {
  const { sim, token } = await start(t)
  sim.inject('folders', { status: 500, times: 5 })
  sim.inject('upload', { drop: 'immediately' })
  t.equal((await folders(sim, token)).status, 500)
  t.same(sim.pendingFaults().folders, [{ status: 500, times: 4 }])
  sim.clearFaults()
  t.same(sim.pendingFaults(), { login: [], folders: [], children: [], upload: [] })
  t.equal((await folders(sim, token)).status, 200)

  sim.inject('folders', { status: 500 })
  t.equal((await upload(sim, token, 'f.edi', 'x')).status, 201)
  sim.reset()
  t.equal(sim.files().length, 0)
  t.same(sim.calls, { login: 0, folders: 0, children: 0, upload: 0 })
  t.equal((await folders(sim, token)).status, 200, 'faults cleared, tokens still valid')
})

t.test('random faults: only the chosen operations, reproducible from a seed', async t => {
  const randomFaults = { rate: 1, operations: ['folders' as const], seed: 42 }
  const a = await start(t, { randomFaults })
  const b = await start(t, { randomFaults })
  t.equal(a.sim.calls.login, 1, 'login is not faulted')
  const run = async ({ sim, token }: { sim: Simulator, token: string }): Promise<string[]> => {
    const seen: string[] = []
    for (let i = 0; i < 12; i++) {
      const outcome = await folders(sim, token)
      seen.push(`${outcome.status ?? '-'}/${outcome.error ?? ''}`)
    }
    return seen
  }
  const [seqA, seqB] = await Promise.all([run(a), run(b)])
  t.same(seqA, seqB, 'same seed, same faults')
  const faults = a.sim.requests.filter(r => r.operation === 'folders').map(r => r.fault)
  t.equal(faults.length, 12)
  t.ok(faults.every(f => f !== undefined), 'rate 1 faults every call')
  t.same(faults, b.sim.requests.filter(r => r.operation === 'folders').map(r => r.fault))
  t.ok(new Set(faults.map(f => JSON.stringify(f))).size > 2, 'a mix of faults')

  a.sim.setOption('randomFaults', { rate: 0 })
  t.equal((await folders(a.sim, a.token)).status, 200, 'rate 0: none')
})
