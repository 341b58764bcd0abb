// The simulator's CIC API over real HTTP: login, folder discovery, paging, tokens.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js'

interface Reply { status: number, headers: Record<string, string | string[] | undefined>, body: any }

async function start (t: Test, options?: SimulatorOptions): Promise<Simulator> {
  const sim = await startSimulator(options)
  t.teardown(() => sim.close())
  return sim
}

async function call (sim: Simulator, path: string, options: { method?: 'GET' | 'POST', token?: string, headers?: Record<string, string>, body?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const res = await request(`${sim.url}${path}`, { method: options.method ?? 'GET', headers, body: options.body })
  const text = await res.body.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.statusCode, headers: res.headers, body }
}

function loginCall (sim: Simulator, form: string): Promise<Reply> {
  return call(sim, '/api/authentication', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form })
}

async function login (sim: Simulator, username = DEMO_USERNAME, password = DEMO_PASSWORD): Promise<string> {
  const res = await loginCall(sim, new URLSearchParams({ grant_type: 'password', username, password }).toString())
  if (res.status !== 200) throw new Error(`login failed: ${res.status}`)
  return res.body.access_token
}

function decodeJwtPart (part: string | undefined): any {
  return JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'))
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

t.test('login returns a bearer JWT shaped like CIC\'s', async t => {
  const sim = await start(t)
  const res = await loginCall(sim, new URLSearchParams({ grant_type: 'password', username: DEMO_USERNAME, password: DEMO_PASSWORD }).toString())
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.same(Object.keys(res.body), ['token_type', 'access_token', 'user_id'])
  t.equal(res.body.token_type, 'bearer')
  t.match(res.body.user_id, /^[0-9a-f-]{36}$/)
  t.equal(res.body.user_id, sim.mailbox(DEMO_USERNAME).userId)
  const [header, payload] = res.body.access_token.split('.')
  t.same(decodeJwtPart(header), { alg: 'HS256' })
  const claims = decodeJwtPart(payload)
  t.match(claims, { sub: res.body.user_id, iss: 'http://www.cleo.com', omniId: res.body.user_id, AccessType: 'DEFAULT', jti: String })
  t.equal(claims.exp - claims.iat, 3600, 'exp = iat + tokenLifetimeSeconds')
  t.ok(Math.abs(claims.iat - Date.now() / 1000) < 5)
  t.not(await login(sim), res.body.access_token, 'every token is unique (jti)')
  t.equal(sim.calls.login, 2)
})

t.test('login failures', async t => {
  const sim = await start(t)
  const wrong = await loginCall(sim, 'grant_type=password&username=demo&password=nope')
  t.equal(wrong.status, 401)
  t.same(wrong.body, { message: 'Invalid username or password' })
  t.equal((await loginCall(sim, 'grant_type=password&username=nobody&password=x')).status, 401)
  const grant = await loginCall(sim, `grant_type=client_credentials&username=demo&password=${encodeURIComponent(DEMO_PASSWORD)}`)
  t.equal(grant.status, 400)
  t.type(grant.body.message, 'string')
  const notForm = await call(sim, '/api/authentication', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  t.equal(notForm.status, 415)
  t.type(notForm.body.message, 'string')
  t.equal(sim.calls.login, 4, 'failed calls are counted too')
})

t.test('passwords with @ & % + must be form-encoded properly', async t => {
  const sim = await start(t)
  t.equal(DEMO_PASSWORD, 'Demo@Passw0rd&+%')
  const encoded = new URLSearchParams({ grant_type: 'password', username: DEMO_USERNAME, password: DEMO_PASSWORD }).toString()
  t.equal((await loginCall(sim, encoded)).status, 200, 'URLSearchParams encoding works')
  const naive = `grant_type=password&username=${DEMO_USERNAME}&password=${DEMO_PASSWORD}`
  t.equal((await loginCall(sim, naive)).status, 401, 'raw concatenation fails')
  const uriEncoded = `grant_type=password&username=${DEMO_USERNAME}&password=${encodeURIComponent(DEMO_PASSWORD)}`
  t.equal((await loginCall(sim, uriEncoded)).status, 200, 'encodeURIComponent works too')
})

t.test('GET /api/folders returns the home folder exactly as in the walkthrough', async t => {
  const sim = await start(t)
  const token = await login(sim)
  const res = await call(sim, '/api/folders', { token })
  t.equal(res.status, 200)
  const { homeId } = sim.mailbox(DEMO_USERNAME)
  t.match(homeId, /^[A-Za-z0-9_-]+$/, 'base64url id')
  t.match(res.body.resources[0]?.meta?.lastModified, ISO_DATE)
  t.same(res.body, {
    totalResults: 1,
    startIndex: 0,
    count: 1,
    resources: [{
      type: 'folder',
      space: 'home',
      id: homeId,
      name: DEMO_USERNAME,
      permissions: [],
      systemProtected: { delete: false, rename: false },
      _links: { self: { href: `/api/folders/${homeId}` } },
      meta: { lastModified: res.body.resources[0].meta.lastModified }
    }]
  })
  t.same(Object.keys(res.body.resources[0]), ['type', 'space', 'id', 'name', 'permissions', 'systemProtected', '_links', 'meta'], 'same key order as CIC')
})

t.test('children are paged; the upload folder comes after the extra folders', async t => {
  const sim = await start(t, { pageSize: 2, accounts: [{ username: 'paged', password: 'Pa$$w0rd!', extraChildren: 5 }] })
  const token = await login(sim, 'paged', 'Pa$$w0rd!')
  const home = (await call(sim, '/api/folders', { token })).body.resources[0]
  const seen: any[] = []
  let startIndex = 0
  for (;;) {
    // Ask for more than pageSize: the server caps it.
    const page = await call(sim, `/api/folders/${home.id as string}/children?startIndex=${startIndex}&count=50`, { token })
    t.equal(page.status, 200)
    t.equal(page.body.totalResults, 7)
    t.equal(page.body.startIndex, startIndex)
    t.ok(page.body.count <= 2, 'count capped at pageSize')
    t.equal(page.body.count, page.body.resources.length)
    seen.push(...page.body.resources)
    startIndex += page.body.resources.length
    if (page.body.resources.length === 0 || startIndex >= page.body.totalResults) break
  }
  t.equal(sim.calls.children, 4)
  t.same(seen.map(f => f.name), ['archive-0001', 'archive-0002', 'archive-0003', 'archive-0004', 'archive-0005', 'download', 'upload'])
  const { uploadId, downloadId } = sim.mailbox('paged')
  const upload = seen[6]
  t.same(upload, {
    type: 'folder',
    space: 'home',
    subspace: 'upload',
    id: uploadId,
    name: 'upload',
    permissions: ['upload'],
    systemProtected: { delete: true, rename: true },
    _links: { self: { href: `/api/folders/${uploadId}` } },
    meta: { lastModified: upload.meta.lastModified }
  })
  t.match(seen[5], { subspace: 'download', id: downloadId, permissions: ['download'] })
  t.match(upload.meta.lastModified, ISO_DATE)

  const beyond = await call(sim, `/api/folders/${home.id as string}/children?startIndex=100`, { token })
  t.same(beyond.body, { totalResults: 7, startIndex: 100, count: 0, resources: [] })
  t.equal((await call(sim, `/api/folders/${home.id as string}/children?startIndex=-1`, { token })).status, 400)

  sim.addChildren('paged', 3)
  const more = await call(sim, `/api/folders/${home.id as string}/children`, { token })
  t.equal(more.body.totalResults, 10)
  t.same(more.body.resources.map((f: any) => f.name), ['archive-0001', 'archive-0002'])
})

t.test('unknown folder ids are 404, also after recreateFolders', async t => {
  const sim = await start(t, { accounts: [{ username: 'a', password: 'A@1aaaaa' }, { username: 'b', password: 'B@1bbbbb' }] })
  const token = await login(sim, 'a', 'A@1aaaaa')
  const missing = await call(sim, '/api/folders/bm9wZQ/children', { token })
  t.equal(missing.status, 404)
  t.same(missing.body, { message: 'Folder not found' })
  t.equal((await call(sim, `/api/folders/${sim.mailbox('b').homeId}/children`, { token })).status, 404, 'another mailbox\'s folder is invisible')

  const before = sim.mailbox('a')
  sim.recreateFolders('a')
  const after = sim.mailbox('a')
  t.not(after.homeId, before.homeId)
  t.not(after.uploadId, before.uploadId)
  t.equal((await call(sim, `/api/folders/${before.homeId}/children`, { token })).status, 404, 'old id is gone')
  const listed = await call(sim, `/api/folders/${after.homeId}/children`, { token })
  t.equal(listed.status, 200, 'the token survives')
  t.same(listed.body.resources.map((f: any) => f.id), [after.downloadId, after.uploadId])
})

t.test('every authenticated call needs a valid bearer token', async t => {
  const sim = await start(t)
  const token = await login(sim)
  const { homeId } = sim.mailbox(DEMO_USERNAME)
  const missing = await call(sim, '/api/folders')
  t.equal(missing.status, 401)
  t.type(missing.body.message, 'string')
  const [h, p, s] = token.split('.') as [string, string, string]
  const forgedClaims = Buffer.from(JSON.stringify({ ...decodeJwtPart(p), exp: 9999999999 })).toString('base64url')
  t.equal((await call(sim, '/api/folders', { token: `${h}.${forgedClaims}.${s}` })).status, 401, 'tampered payload')
  t.equal((await call(sim, '/api/folders', { token: 'not-a-jwt' })).status, 401)
  t.equal((await call(sim, `/api/folders/${homeId}/children`, { token: 'x.y.z' })).status, 401)

  t.equal((await call(sim, '/api/folders', { token })).status, 200)
  sim.revokeAllTokens()
  const revoked = await call(sim, '/api/folders', { token })
  t.equal(revoked.status, 401, 'revoked')
  t.same(revoked.body, { message: 'Token has been revoked' })
  t.equal((await call(sim, '/api/folders', { token: await login(sim) })).status, 200, 'a new login works')
})

t.test('tokens expire after tokenLifetimeSeconds', async t => {
  const sim = await start(t, { tokenLifetimeSeconds: 1 })
  const token = await login(sim)
  const claims = decodeJwtPart(token.split('.')[1])
  t.equal(claims.exp - claims.iat, 1)
  t.equal((await call(sim, '/api/folders', { token })).status, 200, 'valid at first')
  // Second granularity with one second of leeway: surely expired lifetime + 1 s after issue.
  await new Promise(resolve => setTimeout(resolve, 2100))
  const expired = await call(sim, '/api/folders', { token })
  t.equal(expired.status, 401)
  t.same(expired.body, { message: 'Token has expired' })

  sim.setTokenLifetime(600)
  const fresh = decodeJwtPart((await login(sim)).split('.')[1])
  t.equal(fresh.exp - fresh.iat, 600)
})

t.test('unknown routes, wrong methods, counters and the request log', async t => {
  const sim = await start(t)
  const nope = await call(sim, '/api/nothing')
  t.equal(nope.status, 404)
  t.same(nope.body, { message: 'Not found' })
  const wrongMethod = await call(sim, '/api/authentication')
  t.equal(wrongMethod.status, 405)
  t.equal(wrongMethod.headers.allow, 'POST')
  const token = await login(sim)
  await call(sim, '/api/folders?startIndex=0', { token, headers: { 'x-request-id': 'req-42' } })
  t.same(sim.calls, { login: 1, folders: 1, children: 0, upload: 0 })
  const last = sim.requests.at(-1)
  t.match(last, { operation: 'folders', method: 'GET', path: '/api/folders?startIndex=0', at: Number })
  t.equal(last?.headers['x-request-id'], 'req-42', 'headers are recorded, lower-cased')
  t.equal(sim.requests[0]?.operation, 'unknown')
  sim.reset()
  t.same(sim.calls, { login: 0, folders: 0, children: 0, upload: 0 })
  t.equal(sim.requests.length, 0)
})

t.test('the request log keeps the last 1000 requests', async t => {
  const sim = await start(t)
  for (let i = 0; i < 1010; i += 101) {
    await Promise.all(Array.from({ length: 101 }, async (_, j) => await call(sim, `/api/nothing?i=${i + j}`)))
  }
  t.equal(sim.requests.length, 1000)
  t.equal(sim.requests.at(-1)?.path.startsWith('/api/nothing?i='), true)
})

t.test('options are validated', async t => {
  await t.rejects(startSimulator({ pageSize: 0 }), /pageSize/)
  await t.rejects(startSimulator({ accounts: [{ username: 'x', password: 'y' }, { username: 'x', password: 'z' }] }), /duplicate/)
  const sim = await start(t)
  t.throws(() => sim.setOption('sameNamePolicy', 'sometimes' as any), /sameNamePolicy/)
  t.throws(() => sim.inject('upload', {}), /at least one/)
  t.throws(() => sim.inject('nope' as any, { status: 500 }), /operation/)
  sim.setOption('allowedExtensions', ['EDI', '.json'])
  t.same(sim.settings.allowedExtensions, ['.edi', '.json'], 'normalised')
})
