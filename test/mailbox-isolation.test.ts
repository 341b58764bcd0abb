import t from 'tap'
import { createHash } from 'node:crypto'
import { postDocument, send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

// The proof that a caller of mailbox A cannot deliver into mailbox B.
const ALPHA = { username: 'alpha_app', password: 'Alpha@Passw0rd&+%' }
const BETA = { username: 'beta_app', password: 'Beta@Passw0rd&+%1' }
const ERP_KEY = 'erp-key-1a2b3c4d5e6f7a8b9c0d'
const WMS_KEY = 'wms-key-0f9e8d7c6b5a4f3e2d1c'
const sha = (s: string): string => createHash('sha256').update(s).digest('hex')

const config = (defaultMailbox: string) => (url: string): string => `
defaultMailbox: ${defaultMailbox}
mailboxes:
  alpha: { baseUrl: ${url}, username: ${ALPHA.username}, password: "${ALPHA.password}" }
  beta:  { baseUrl: ${url}, username: ${BETA.username}, password: "${BETA.password}" }
callers:
  erp: { keySha256: "${sha(ERP_KEY)}", mailboxes: [alpha] }
  wms: { key: "${WMS_KEY}", mailboxes: [alpha, beta] }
`

t.test('a caller of mailbox A gets 403 for mailbox B on every route, and nothing reaches CIC', async t => {
  const stack = await startStack(t, { sim: { accounts: [ALPHA, BETA] }, configFile: config('beta'), secrets: [ERP_KEY] })
  const erp = { authorization: `Bearer ${ERP_KEY}` }
  const attempts = [
    await send(`${stack.url}/mailboxes/beta/documents?filename=sneak.edi`, { body: 'x', headers: erp }),
    // POST /documents goes to the default mailbox, beta here: same rule.
    await postDocument(stack.url, 'sneak.edi', 'x', erp),
    await send(`${stack.url}/mailboxes/beta/documents`, { body: 'x', headers: { ...erp, 'content-disposition': 'attachment; filename=sneak.edi' } }),
    // A mailbox erp does not know is refused the same way: erp cannot tell which exist.
    await send(`${stack.url}/mailboxes/gamma/documents?filename=sneak.edi`, { body: 'x', headers: erp })
  ]
  for (const res of attempts) {
    t.equal(res.status, 403)
    t.equal(res.json().type, 'urn:cic-gateway:problem:mailbox-forbidden')
    t.equal(res.json().delivered, 'no')
  }
  t.same(stack.sim.calls, { login: 0, folders: 0, children: 0, upload: 0 }, 'CIC saw nothing, not even beta\'s login')
  t.same(stack.sim.files(BETA.username), [])
  t.equal(stack.logs().filter(l => l.event === 'auth.forbidden' && l.caller === 'erp').length, 4, 'each refusal is logged with the caller')
})

t.test('the same caller delivers into its own mailbox, and only there', async t => {
  const stack = await startStack(t, { sim: { accounts: [ALPHA, BETA] }, configFile: config('alpha'), secrets: [ERP_KEY] })
  const erp = { authorization: `Bearer ${ERP_KEY}` }
  t.equal((await send(`${stack.url}/mailboxes/alpha/documents?filename=mine.edi`, { body: 'A', headers: erp })).status, 201)
  t.equal((await postDocument(stack.url, 'mine-default.edi', 'A', erp)).status, 201)
  t.equal((await send(`${stack.url}/mailboxes/beta/documents?filename=theirs.edi`, { body: 'B', headers: erp })).status, 403)
  t.same(stack.sim.files(ALPHA.username).map(f => f.name), ['mine.edi', 'mine-default.edi'])
  t.same(stack.sim.files(BETA.username), [])
  t.equal(stack.sim.requests.filter(r => r.operation === 'login').length, 1, 'only alpha\'s account ever logged in')
})

t.test('a caller allowed both mailboxes reaches both; its key is not another caller\'s', async t => {
  const stack = await startStack(t, { sim: { accounts: [ALPHA, BETA] }, configFile: config('alpha'), secrets: [ERP_KEY] })
  const wms = { authorization: `Bearer ${WMS_KEY}` }
  t.equal((await send(`${stack.url}/mailboxes/alpha/documents?filename=w1.edi`, { body: 'A', headers: wms })).status, 201)
  t.equal((await send(`${stack.url}/mailboxes/beta/documents?filename=w2.edi`, { body: 'B', headers: wms })).status, 201)
  t.same(stack.sim.files(BETA.username).map(f => f.name), ['w2.edi'])
  // The hash itself is not a key: presenting erp's keySha256 as a bearer token fails.
  t.equal((await send(`${stack.url}/mailboxes/alpha/documents?filename=h.edi`, { body: 'A', headers: { authorization: `Bearer ${sha(ERP_KEY)}` } })).status, 401)
})
