import t from 'tap'
import { postDocument, send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

const ALPHA = { username: 'alpha_app', password: 'Alpha@Passw0rd&+%' }
const BETA = { username: 'beta_app', password: 'Beta@Passw0rd&+%1' }
const OPS_KEY = 'ops-key-9d8c7b6a5f4e3d2c1b0a'

const yaml = (url: string): string => `
defaultMailbox: alpha
mailboxes:
  alpha: { baseUrl: ${url}, username: ${ALPHA.username}, password: "${ALPHA.password}", uploadFolder: upload }
  beta:  { baseUrl: ${url}/, username: ${BETA.username}, password: "${BETA.password}" }
`

t.test('named mailboxes from a YAML config file: each route delivers into its own CIC account', async t => {
  const stack = await startStack(t, { sim: { accounts: [ALPHA, BETA] }, configFile: yaml, env: { GATEWAY_API_KEYS: OPS_KEY } })
  const auth = { authorization: `Bearer ${OPS_KEY}` }
  const a = await send(`${stack.url}/mailboxes/alpha/documents?filename=to-alpha.edi`, { body: 'A', headers: auth })
  t.equal(a.status, 201)
  const b = await send(`${stack.url}/mailboxes/beta/documents?filename=to-beta.edi`, { body: 'B', headers: auth })
  t.equal(b.status, 201)
  const d = await postDocument(stack.url, 'to-default.edi', 'D', auth)
  t.equal(d.status, 201, 'POST /documents goes to defaultMailbox')
  t.same(stack.sim.files(ALPHA.username).map(f => f.name), ['to-alpha.edi', 'to-default.edi'])
  t.same(stack.sim.files(BETA.username).map(f => f.name), ['to-beta.edi'])
  t.equal(b.json().parentId, stack.sim.mailbox(BETA.username).uploadId, 'beta\'s document is in beta\'s upload folder')
  t.equal(stack.sim.calls.login, 2, 'one login per mailbox: each has its own token')
  t.equal(stack.sim.calls.folders, 2, 'and its own upload-folder lookup')
  const logins = stack.sim.requests.filter(r => r.operation === 'login').length
  t.equal(logins, 2)
  const lines = stack.logs().filter(l => l.event === 'document.delivered').map(l => l.mailbox)
  t.same(lines, ['alpha', 'beta', 'alpha'])
})

t.test('an unknown mailbox is 404 problem+json and nothing reaches CIC', async t => {
  const stack = await startStack(t, { sim: { accounts: [ALPHA, BETA] }, configFile: yaml, env: { GATEWAY_API_KEYS: OPS_KEY } })
  const res = await send(`${stack.url}/mailboxes/gamma/documents?filename=x.edi`, { body: 'x', headers: { authorization: `Bearer ${OPS_KEY}` } })
  t.equal(res.status, 404)
  t.equal(res.json().type, 'urn:cic-gateway:problem:mailbox-not-found')
  t.notMatch(res.text, 'gamma', 'the name is not reflected')
  const bad = await send(`${stack.url}/mailboxes/${encodeURIComponent('../beta')}/documents?filename=x.edi`, { body: 'x', headers: { authorization: `Bearer ${OPS_KEY}` } })
  t.equal(bad.status, 400, 'a name outside the allowed characters is refused')
  t.same(stack.sim.calls, { login: 0, folders: 0, children: 0, upload: 0 })
})

t.test('a JSON config file works the same; a single mailbox is the default', async t => {
  const stack = await startStack(t, {
    sim: { accounts: [BETA] },
    configFile: url => JSON.stringify({ mailboxes: { beta: { baseUrl: url, username: BETA.username, password: BETA.password } } })
  })
  t.equal((await postDocument(stack.url, 'only.edi', 'x')).status, 201)
  t.same(stack.sim.files(BETA.username).map(f => f.name), ['only.edi'])
})

t.test('environment-only configuration is the mailbox named default, on both routes', async t => {
  const stack = await startStack(t)
  t.equal((await postDocument(stack.url, 'env.edi', 'x')).status, 201)
  t.equal((await send(`${stack.url}/mailboxes/default/documents?filename=env2.edi`, { body: 'y' })).status, 201)
  t.same(stack.sim.files().map(f => f.name), ['env.edi', 'env2.edi'])
})

t.test('/readyz reports every mailbox', async t => {
  const stack = await startStack(t, { sim: { accounts: [ALPHA, BETA] }, configFile: yaml })
  const res = await send(`${stack.url}/readyz`, { method: 'GET' })
  t.equal(res.status, 200)
  t.same(Object.keys(res.json().mailboxes).sort(), ['alpha', 'beta'])
})
