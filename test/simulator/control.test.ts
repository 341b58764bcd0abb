// The /_sim/ control API and the standalone runner (src/simulator/main.ts).
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { request } from 'undici'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js'

interface Reply { status: number, body: any }

async function start (t: Test, options?: SimulatorOptions): Promise<Simulator> {
  const sim = await startSimulator(options)
  t.teardown(() => sim.close())
  return sim
}

async function call (base: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, options: { json?: unknown, raw?: string, headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers }
  let body: string | undefined = options.raw
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(options.json)
  }
  const res = await request(`${base}${path}`, { method, headers, body })
  const text = await res.body.text()
  let parsed: unknown = text
  try { parsed = JSON.parse(text) } catch {}
  return { status: res.statusCode, body: parsed }
}

async function login (base: string, username = DEMO_USERNAME, password = DEMO_PASSWORD): Promise<Reply> {
  return await call(base, 'POST', '/api/authentication', {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    raw: new URLSearchParams({ grant_type: 'password', username, password }).toString()
  })
}

async function upload (base: string, token: string, folderId: string, name: string, body: string): Promise<Reply> {
  return await call(base, 'POST', `/api/folders/${folderId}/files`, {
    headers: { authorization: `Bearer ${token}`, 'content-disposition': `attachment;filename=${name}` },
    raw: body
  })
}

t.test('control API drives faults, tokens, options and resets out of process', async t => {
  const sim = await start(t)
  const base = sim.url
  t.same(await call(base, 'GET', '/_sim/health'), { status: 200, body: { status: 'ok' } })

  t.equal((await call(base, 'POST', '/_sim/faults', { json: { operation: 'login', status: 503, times: 1, headers: { 'Retry-After': '2' } } })).status, 200)
  t.same((await call(base, 'GET', '/_sim/faults')).body.login, [{ status: 503, headers: { 'Retry-After': '2' }, times: 1 }])
  t.equal((await login(base)).status, 503, 'the fault applies')
  const token = (await login(base)).body.access_token
  t.type(token, 'string')

  const { uploadId } = sim.mailbox(DEMO_USERNAME)
  t.equal((await upload(base, token, uploadId, 'ctl.edi', 'hello')).status, 201)
  const files = await call(base, 'GET', '/_sim/files')
  t.equal(files.status, 200)
  t.equal(files.body.files.length, 1)
  t.match(files.body.files[0], { name: 'ctl.edi', size: 5, sha256: '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', username: DEMO_USERNAME })
  t.notOk('data' in files.body.files[0], 'no bodies over the control API')

  t.same((await call(base, 'GET', '/_sim/calls')).body, { login: 2, folders: 0, children: 0, upload: 1 })
  t.notOk(sim.requests.some(r => r.path.startsWith('/_sim/')), 'control calls are not CIC calls')
  t.equal((await call(base, 'GET', '/_sim/requests')).body.requests.length, 3)

  t.equal((await call(base, 'POST', '/_sim/faults', { json: { operation: 'upload', drop: 'immediately', times: 3 } })).status, 200)
  t.equal((await call(base, 'DELETE', '/_sim/faults')).status, 200)
  t.equal((await upload(base, token, uploadId, 'ctl2.edi', 'x')).status, 201, 'faults cleared')

  t.equal((await call(base, 'POST', '/_sim/revoke')).status, 200)
  t.equal((await upload(base, token, uploadId, 'ctl3.edi', 'x')).status, 401, 'tokens revoked')

  const options = await call(base, 'PUT', '/_sim/options', { json: { sameNamePolicy: 'reject', maxFileBytes: 10, randomFaults: null } })
  t.equal(options.status, 200)
  t.match(options.body, { sameNamePolicy: 'reject', maxFileBytes: 10 })
  t.equal(sim.settings.sameNamePolicy, 'reject')
  t.equal((await call(base, 'PUT', '/_sim/options', { json: { maxFileBytes: null } })).body.maxFileBytes, undefined, 'null clears')

  t.equal((await call(base, 'POST', '/_sim/reset')).status, 200)
  t.same((await call(base, 'GET', '/_sim/files')).body, { files: [] })
  t.same((await call(base, 'GET', '/_sim/calls')).body, { login: 0, folders: 0, children: 0, upload: 0 })
})

t.test('control API rejects bad input', async t => {
  const sim = await start(t)
  const bad = [
    { operation: 'nope', status: 500 },
    { operation: 'login' },
    { operation: 'login', status: 99 },
    { operation: 'login', drop: 'sometimes' },
    { operation: 'login', delayMs: -1 }
  ]
  for (const json of bad) {
    const res = await call(sim.url, 'POST', '/_sim/faults', { json })
    t.equal(res.status, 400, JSON.stringify(json))
    t.type(res.body.message, 'string')
  }
  t.equal((await call(sim.url, 'POST', '/_sim/faults', { raw: '{not json' })).status, 400)
  t.equal((await call(sim.url, 'PUT', '/_sim/options', { json: { colour: 'blue' } })).status, 400)
  t.equal((await call(sim.url, 'PUT', '/_sim/options', { json: { pageSize: 0 } })).status, 400)
  t.equal((await call(sim.url, 'GET', '/_sim/nothing')).status, 404)
  t.same(sim.pendingFaults(), { login: [], folders: [], children: [], upload: [] })
})

t.test('controlApi: false hides /_sim/', async t => {
  const sim = await start(t, { controlApi: false })
  const res = await call(sim.url, 'GET', '/_sim/health')
  t.equal(res.status, 404)
  t.same(res.body, { message: 'Not found' })
})

t.test('standalone runner: env config, one JSON log line, clean exit on SIGTERM', async t => {
  // Same loaders as this test process, so the TypeScript entry point runs as is.
  const child = spawn(process.execPath, [...process.execArgv, 'src/simulator/main.ts'], {
    env: {
      ...process.env,
      SIMULATOR_HOST: '127.0.0.1',
      SIMULATOR_PORT: '0',
      SIMULATOR_USERNAME: 'standalone',
      SIMULATOR_PASSWORD: 'S+a@n&d%1',
      SIMULATOR_TOKEN_LIFETIME_SECONDS: '120',
      SIMULATOR_CHUNKED: 'accept'
    },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = once(child, 'exit')
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines = createInterface({ input: child.stdout })
  const [first] = await once(lines, 'line') as [string]
  const log = JSON.parse(first)
  t.equal(log.msg, 'CIC simulator listening')
  t.match(log.url, /^http:\/\/127\.0\.0\.1:\d+$/)

  t.same((await call(log.url, 'GET', '/_sim/health')).body, { status: 'ok' })
  const ok = await login(log.url, 'standalone', 'S+a@n&d%1')
  t.equal(ok.status, 200)
  const claims = JSON.parse(Buffer.from(ok.body.access_token.split('.')[1], 'base64url').toString())
  t.equal(claims.exp - claims.iat, 120)
  const options = (await call(log.url, 'GET', '/_sim/options')).body
  t.match(options, { keepBodies: false, chunkedUploads: 'accept' })

  child.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0, 'exit code 0')
})

t.test('standalone runner refuses bad configuration', async t => {
  const child = spawn(process.execPath, [...process.execArgv, 'src/simulator/main.ts'], {
    env: { ...process.env, SIMULATOR_PORT: 'eighty' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  t.match(JSON.parse(out.trim()), { msg: 'CIC simulator failed to start', err: /SIMULATOR_PORT/ })
})
