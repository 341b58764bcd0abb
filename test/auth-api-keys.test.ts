import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { postDocument, send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

const KEY_A = 'key-A-7f3c9d2e41b84a6f9c1d'
const KEY_B = 'key-B-0e5a8b7c6d4f3a2b1c9e'

t.test('without a key, or with a wrong one, the caller gets 401 problem+json with WWW-Authenticate and nothing reaches CIC', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: `${KEY_A},${KEY_B}` } })
  const attempts: Array<[string, Record<string, string>, RegExp]> = [
    ['no Authorization', {}, /^Bearer realm="cic-gateway"$/],
    ['wrong key', { authorization: 'Bearer key-X-000000000000000000000' }, /error="invalid_token"/],
    ['a prefix of a key', { authorization: `Bearer ${KEY_A.slice(0, -1)}` }, /invalid_token/],
    ['a key with a suffix', { authorization: `Bearer ${KEY_A}x` }, /invalid_token/],
    ['Basic scheme', { authorization: `Basic ${Buffer.from(`u:${KEY_A}`).toString('base64')}` }, /invalid_token/],
    ['empty bearer', { authorization: 'Bearer ' }, /invalid_token/]
  ]
  for (const [what, headers, challenge] of attempts) {
    const res = await postDocument(stack.url, 'po.edi', 'ISA*', headers)
    t.equal(res.status, 401, what)
    t.match(res.headers['content-type'], /^application\/problem\+json/, what)
    t.match(res.headers['www-authenticate'], challenge, what)
    t.equal(res.json().type, 'urn:cic-gateway:problem:unauthorized', what)
    t.equal(res.json().delivered, 'no', what)
    t.notMatch(res.text, KEY_A.slice(0, 8), `${what}: no key in the answer`)
  }
  const named = await send(`${stack.url}/mailboxes/default/documents?filename=x.edi`, { body: 'x' })
  t.equal(named.status, 401, 'the named-mailbox route is protected too')
  t.same(stack.sim.calls, { login: 0, folders: 0, children: 0, upload: 0 }, 'CIC saw nothing, not even a login')
  t.equal(stack.sim.files().length, 0)
  const refused = stack.logs().filter(l => l.event === 'auth.refused')
  t.equal(refused.length, attempts.length + 1, 'each refusal is logged (without the key)')
})

t.test('every configured key is accepted (two at once make rotation possible), case-insensitive scheme', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: ` ${KEY_A} , ${KEY_B} ` } })
  const a = await postDocument(stack.url, 'a.edi', 'A', { authorization: `Bearer ${KEY_A}` })
  t.equal(a.status, 201)
  const b = await postDocument(stack.url, 'b.edi', 'B', { authorization: `bearer ${KEY_B}` })
  t.equal(b.status, 201)
  t.same(stack.sim.files().map(f => f.name), ['a.edi', 'b.edi'])
  const delivered = stack.logs().filter(l => l.event === 'document.delivered').map(l => l.caller)
  t.same(delivered, ['api-key-1', 'api-key-2'], 'deliveries are logged with the caller\'s name, never its key')
})

t.test('GATEWAY_API_KEYS_FILE: one key per line, comments and blank lines ignored', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'keys-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  await writeFile(join(dir, 'keys'), `# rotated 2026-11\n${KEY_A}\n\n${KEY_B}\n`)
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS_FILE: join(dir, 'keys') }, secrets: [KEY_A, KEY_B] })
  t.equal((await postDocument(stack.url, 'a.edi', 'A', { authorization: `Bearer ${KEY_B}` })).status, 201)
  t.equal((await postDocument(stack.url, 'b.edi', 'B', { authorization: 'Bearer not-a-configured-key-123' })).status, 401)
})

t.test('/livez, /readyz, /metrics and /openapi.json stay open', async t => {
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: KEY_A } })
  for (const path of ['/livez', '/readyz', '/metrics', '/openapi.json']) {
    t.equal((await send(`${stack.url}${path}`, { method: 'GET' })).status, 200, path)
  }
})

t.test('with no key configured outside production, auth is off and start-up warns', async t => {
  const stack = await startStack(t)
  t.equal((await postDocument(stack.url, 'open.edi', 'x')).status, 201)
  const warning = stack.logs().find(l => l.event === 'auth')
  t.equal(warning?.level, 40)
  t.equal(warning?.mode, 'no-keys')
})
