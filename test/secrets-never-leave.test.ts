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
