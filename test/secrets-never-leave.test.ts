import t from 'tap'
import { postDocument, send, type Reply } from './helpers/http.js'
import { startStack } from './helpers/stack.js'
import { DEMO_PASSWORD } from '../src/simulator/index.js'

// CIC tokens, CIC passwords and API keys never leave the gateway: not in an answer, not in a log
// (the stack's teardown and the suite-wide scan check the logs).
t.test('no answer, on success or on any failure path, carries a token, password or key', async t => {
  const key = 'leak-key-0123456789abcdef'
  const stack = await startStack(t, { env: { GATEWAY_API_KEYS: key, LOG_LEVEL: 'trace' } })
  const auth = { authorization: `Bearer ${key}` }
  const answers: Reply[] = []
  answers.push(await postDocument(stack.url, 'ok.edi', 'x', auth))
  stack.sim.revokeAllTokens()
  answers.push(await postDocument(stack.url, 'replayed.edi', 'x', auth))
  stack.sim.inject('upload', { status: 401, body: `{"message":"token ${'x'} rejected"}`, times: 2 })
  answers.push(await postDocument(stack.url, 'revoked-twice.edi', 'x', auth))
  stack.sim.revokeAllTokens()
  stack.sim.inject('login', { status: 401, body: `{"message":"bad password ${DEMO_PASSWORD}"}` })
  answers.push(await postDocument(stack.url, 'login-refused.edi', 'x', auth))
  stack.sim.inject('upload', { status: 500, headers: { 'www-authenticate': 'Bearer error="x"' } })
  answers.push(await postDocument(stack.url, 'cic-500.edi', 'x', auth))
  answers.push(await send(`${stack.url}/readyz`, { method: 'GET' }))
  answers.push(await send(`${stack.url}/openapi.json`, { method: 'GET' }))
  answers.push(await postDocument(stack.url, 'no-key.edi', 'x'))

  const tokens = stack.sim.requests.map(r => r.headers.authorization).filter((a): a is string => typeof a === 'string').map(a => a.slice(7))
  t.ok(tokens.length >= 3, 'CIC issued tokens during the run')
  const secrets = [...new Set([...tokens, DEMO_PASSWORD, key])]
  for (const [i, res] of answers.entries()) {
    const text = `${res.text}\n${JSON.stringify(res.headers)}`
    for (const s of secrets) t.notOk(text.includes(s), `answer #${i} (${res.status}) carries no secret (${s.slice(0, 4)}...)`)
  }
  t.equal(answers[0]?.status, 201)
  t.equal(answers[1]?.status, 201, 'a revoked token was renewed')
  t.equal(answers[3]?.json().type, 'urn:cic-gateway:problem:cic-login-failed')
  t.equal(answers.at(-1)?.status, 401)
  // CIC echoed the password in its login error: the log keeps the message, without the password.
  const failed = stack.logs().find(l => l.event === 'cic.login' && l.outcome === 'failure')
  t.match(JSON.stringify(failed), /bad password \[redacted\]/)
})

// CIC's error text is cleaned of every secret the gateway holds, not only of what the failing
// request carried: another mailbox's password, a caller's key, another mailbox's current token.
const ALPHA = { username: 'alpha_app', password: 'Alpha@Passw0rd&+%' }
const BETA = { username: 'beta_app', password: 'Beta@Passw0rd&+%1' }
const WMS_KEY = 'wms-key-0f9e8d7c6b5a4f3e2d1c'
const ERP_KEY = 'erp-key-1a2b3c4d5e6f7a8b9c0d'

t.test('an error CIC sends for mailbox A that echoes B\'s password, a caller key or B\'s token reaches no log and no answer', async t => {
  const stack = await startStack(t, {
    sim: { accounts: [ALPHA, BETA] },
    env: { GATEWAY_API_KEYS: ERP_KEY },
    configFile: url => `
mailboxes:
  alpha: { baseUrl: ${url}, username: ${ALPHA.username}, password: "${ALPHA.password}" }
  beta:  { baseUrl: ${url}, username: ${BETA.username}, password: "${BETA.password}" }
callers:
  wms: { key: "${WMS_KEY}", mailboxes: [alpha, beta] }
`
  })
  const wms = { authorization: `Bearer ${WMS_KEY}` }
  const beta = await send(`${stack.url}/mailboxes/beta/documents?filename=b.edi`, { body: 'x', headers: wms })
  t.equal(beta.status, 201, 'beta logged in and delivered')
  const betaToken = stack.sim.requests.at(-1)?.headers.authorization?.toString().slice(7) ?? ''
  t.ok(betaToken.length > 20, 'beta holds a current token')

  const secrets = [BETA.password, WMS_KEY, ERP_KEY, betaToken]
  // Each as CIC might echo it: raw, and the password as it was form-encoded in a login body.
  // (CIC's text is cut to 200 characters in the log: the token, the longest, comes in a message of its own.)
  const echo = `echo ${BETA.password} | ${new URLSearchParams({ p: BETA.password }).toString().slice(2)} | ${encodeURIComponent(BETA.password)} | key ${WMS_KEY} key ${ERP_KEY}`
  const forms = secrets.flatMap(s => [s, new URLSearchParams({ p: s }).toString().slice(2), encodeURIComponent(s), JSON.stringify(s).slice(1, -1)])
    .filter(s => s.length >= 8)
  // A token is longer than the 200 characters of CIC's text that are kept: half a token must not be kept either.
  forms.push(betaToken.split('.')[1]!.slice(0, 40))

  const answers: Reply[] = []
  // alpha's login refused with that text, then (logged in) its upload refused with it.
  // Twice: the delivery's login, then the readiness check's.
  stack.sim.inject('login', { status: 401, body: JSON.stringify({ message: `login refused: ${echo}` }), times: 2 })
  answers.push(await send(`${stack.url}/mailboxes/alpha/documents?filename=a1.edi`, { body: 'x', headers: wms }))
  answers.push(await send(`${stack.url}/readyz`, { method: 'GET' }))
  stack.sim.inject('upload', { status: 400, body: JSON.stringify({ message: `upload refused: token ${betaToken}` }) })
  answers.push(await send(`${stack.url}/mailboxes/alpha/documents?filename=a2.edi`, { body: 'x', headers: wms }))
  // And the other way round: beta's upload refused with alpha's current token.
  const alphaToken = stack.sim.requests.at(-1)?.headers.authorization?.toString().slice(7) ?? ''
  t.ok(alphaToken.length > 20 && alphaToken !== betaToken, 'alpha holds a current token')
  forms.push(alphaToken.split('.')[1]!.slice(0, 40))
  stack.sim.inject('upload', { status: 400, body: JSON.stringify({ message: `beta refused: token ${alphaToken}` }) })
  answers.push(await send(`${stack.url}/mailboxes/beta/documents?filename=b2.edi`, { body: 'x', headers: wms }))

  t.equal(answers[0]?.json().type, 'urn:cic-gateway:problem:cic-login-failed')
  t.equal(answers[1]?.status, 503)
  t.equal(answers[2]?.json().type, 'urn:cic-gateway:problem:cic-rejected')
  t.equal(answers[3]?.json().type, 'urn:cic-gateway:problem:cic-rejected')
  for (const [i, res] of answers.entries()) {
    const text = `${res.text}\n${JSON.stringify(res.headers)}`
    for (const s of forms) t.notOk(text.includes(s), `answer #${i} (${res.status}) carries no secret (${s.slice(0, 4)}...)`)
  }
  const log = stack.logs().map(l => JSON.stringify(l)).join('\n')
  for (const s of forms) t.notOk(log.includes(s), `no log line carries ${s.slice(0, 4)}...`)
  // CIC's text is still logged, with the secrets cut out.
  t.match(log, /login refused: echo \[redacted\] \| \[redacted\] \| \[redacted\] \| key \[redacted\] key \[redacted\]"/)
  t.match(log, /upload refused: token \[redacted\]"/)
  t.match(log, /beta refused: token \[redacted\]"/)
})
