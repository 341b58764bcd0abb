import t from 'tap'
import { postDocument } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

t.test('100 concurrent requests on a cold gateway cause exactly one login and one folder lookup', async t => {
  const stack = await startStack(t)
  const results = await Promise.all(Array.from({ length: 100 }, async (_, i) => await postDocument(stack.url, `doc-${i}.edi`, `body ${i}`)))
  t.same(results.map(r => r.status), Array(100).fill(201))
  t.equal(stack.sim.calls.login, 1, 'one login')
  t.equal(stack.sim.calls.folders, 1, 'one home-folder lookup')
  t.equal(stack.sim.files().length, 100)
})

t.test('a token is renewed before it expires, without a failed upload', async t => {
  // Lifetime 3 s with a 2 s margin: the cached token is dropped after ~1 s and renewed.
  const stack = await startStack(t, { sim: { tokenLifetimeSeconds: 3 }, env: { TOKEN_REFRESH_MARGIN_SECONDS: '2' } })
  t.equal((await postDocument(stack.url, 'a.edi', 'a')).status, 201)
  await new Promise(resolve => setTimeout(resolve, 1600))
  t.equal((await postDocument(stack.url, 'b.edi', 'b')).status, 201)
  t.equal(stack.sim.calls.login, 2, 'renewed by a second login')
  t.equal(stack.sim.requests.filter(r => r.operation === 'upload').length, 2, 'no upload was rejected and retried')
})
