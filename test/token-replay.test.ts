import t from 'tap'
import { Readable } from 'node:stream'
import { postDocument } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

t.test('a revoked token is renewed once and a kept (small) body replayed', async t => {
  const stack = await startStack(t)
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.revokeAllTokens()
  const res = await postDocument(stack.url, 'after-revoke.edi', 'payload after revoke')
  t.equal(res.status, 201)
  t.equal(stack.sim.calls.login, 2, 'logged in again')
  const stored = stack.sim.files().find(f => f.name === 'after-revoke.edi')
  t.same(stored?.data, Buffer.from('payload after revoke'), 'the replay sent the same bytes')
})

t.test('a revoked token during a streamed upload that cannot be replayed: 503, not delivered, safe to resend', async t => {
  // Bodies over MEMORY_BODY_BYTES stream straight through and are not kept.
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '1024' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.revokeAllTokens()
  const big = Buffer.alloc(256 * 1024, 'x')
  const res = await postDocument(stack.url, 'streamed.edi', Readable.from([big]), { 'content-length': String(big.length) })
  t.equal(res.status, 503)
  const problem = res.json()
  t.equal(problem.type, 'urn:cic-gateway:problem:token-revoked-not-replayable')
  t.equal(problem.delivered, 'no')
  t.ok(res.headers['retry-after'], 'Retry-After set')
  t.notOk(stack.sim.files().some(f => f.name === 'streamed.edi'), 'nothing stored')
  // The token was renewed: resending works.
  const again = await postDocument(stack.url, 'streamed.edi', big)
  t.equal(again.status, 201)
})

t.test('a chunked (spooled) body is replayable after a revoked token', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '1024' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.revokeAllTokens()
  const big = Buffer.alloc(200 * 1024, 'y')
  const res = await postDocument(stack.url, 'chunked.edi', Readable.from([big.subarray(0, 1000), big.subarray(1000)]))
  t.equal(res.status, 201)
  t.same(stack.sim.files().find(f => f.name === 'chunked.edi')?.data, big)
  t.same(await stack.spoolFiles(), [], 'spool file removed')
})
