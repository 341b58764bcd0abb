// The simulator's single-session mode: a user's new login revokes that user's earlier tokens.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { request } from 'undici'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js'

interface Reply { status: number, body: any }

const OTHER = { username: 'other', password: 'Other@Pass1' }

async function start (t: Test, options?: SimulatorOptions): Promise<Simulator> {
  const sim = await startSimulator({ accounts: [{ username: DEMO_USERNAME, password: DEMO_PASSWORD }, OTHER], ...options })
  t.teardown(() => sim.close())
  return sim
}

async function call (base: string, path: string, options: { method?: 'GET' | 'POST' | 'PUT', token?: string, headers?: Record<string, string>, body?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const res = await request(`${base}${path}`, { method: options.method ?? 'GET', headers, body: options.body })
  const text = await res.body.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.statusCode, body }
}

async function login (base: string, username = DEMO_USERNAME, password = DEMO_PASSWORD): Promise<string> {
  const res = await call(base, '/api/authentication', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username, password }).toString()
  })
  if (res.status !== 200) throw new Error(`login failed: ${res.status}`)
  return res.body.access_token
}

function upload (base: string, token: string, folderId: string, name: string): Promise<Reply> {
  return call(base, `/api/folders/${folderId}/files`, {
    method: 'POST',
    token,
    headers: { 'content-disposition': `attachment;filename=${name}` },
    body: 'ISA*00~'
  })
}

const REVOKED = { status: 401, body: { message: 'Token has been revoked' } }

t.test('singleSession: a second login revokes the first token; the new one works', async t => {
  const sim = await start(t, { singleSession: true })
  const { uploadId } = sim.mailbox(DEMO_USERNAME)
  const a = await login(sim.url)
  t.equal((await call(sim.url, '/api/folders', { token: a })).status, 200, 'token A works while it is the latest')
  const b = await login(sim.url)
  t.same(await call(sim.url, '/api/folders', { token: a }), REVOKED, 'token A is revoked by the second login')
  t.same(await upload(sim.url, a, uploadId, 'a.edi'), REVOKED, 'an upload with token A is refused')
  t.equal((await call(sim.url, '/api/folders', { token: b })).status, 200, 'token B works')
  t.equal((await upload(sim.url, b, uploadId, 'b.edi')).status, 201)
  t.same(sim.files(DEMO_USERNAME).map((f) => f.name), ['b.edi'], 'only the upload with the live token was stored')
})

t.test('singleSession: one user\'s login leaves another user\'s token alone', async t => {
  const sim = await start(t, { singleSession: true })
  const demo = await login(sim.url)
  const other = await login(sim.url, OTHER.username, OTHER.password)
  t.equal((await call(sim.url, '/api/folders', { token: demo })).status, 200)
  t.equal((await call(sim.url, '/api/folders', { token: other })).status, 200)
})

t.test('without singleSession (the default), both tokens keep working', async t => {
  const sim = await start(t)
  t.equal(sim.settings.singleSession, false)
  const { uploadId } = sim.mailbox(DEMO_USERNAME)
  const a = await login(sim.url)
  const b = await login(sim.url)
  t.equal((await call(sim.url, '/api/folders', { token: a })).status, 200, 'token A')
  t.equal((await call(sim.url, '/api/folders', { token: b })).status, 200, 'token B')
  t.equal((await upload(sim.url, a, uploadId, 'a.edi')).status, 201)
  t.equal((await upload(sim.url, b, uploadId, 'b.edi')).status, 201)
})

t.test('singleSession can be switched on and off while running (setOption, PUT /_sim/options)', async t => {
  const sim = await start(t)
  const a = await login(sim.url)
  const b = await login(sim.url)
  const put = await call(sim.url, '/_sim/options', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ singleSession: true }) })
  t.equal(put.status, 200)
  t.equal(put.body.singleSession, true)
  t.same(await call(sim.url, '/api/folders', { token: a }), REVOKED, 'only the latest login counts once the mode is on')
  t.equal((await call(sim.url, '/api/folders', { token: b })).status, 200)
  sim.setOption('singleSession', false)
  t.equal((await call(sim.url, '/api/folders', { token: a })).status, 200, 'off again: token A is accepted')
  t.throws(() => sim.setOption('singleSession', 'yes' as unknown as boolean), { name: 'TypeError', message: /singleSession/ }, 'a non-boolean is refused, naming the option')
})

t.test('standalone runner: SIMULATOR_SINGLE_SESSION=1 turns the mode on', async t => {
  // Same loaders as this test process, so the TypeScript entry point runs as is.
  const child = spawn(process.execPath, [...process.execArgv, 'src/simulator/main.ts'], {
    env: { ...process.env, SIMULATOR_HOST: '127.0.0.1', SIMULATOR_PORT: '0', SIMULATOR_SINGLE_SESSION: '1' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = once(child, 'exit')
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const [first] = await once(createInterface({ input: child.stdout }), 'line') as [string]
  const { url } = JSON.parse(first)
  t.equal((await call(url, '/_sim/options')).body.singleSession, true)
  const a = await login(url)
  await login(url)
  t.same(await call(url, '/api/folders', { token: a }), REVOKED)
  child.kill('SIGTERM')
  t.equal((await exited)[0], 0)
})
