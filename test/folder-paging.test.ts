import t from 'tap'
import { postDocument } from './helpers/http.js'
import { startStack } from './helpers/stack.js'
import { DEMO_PASSWORD, DEMO_USERNAME } from '../src/simulator/index.js'

t.test('the upload folder is found on a later page of the home folder\'s children', async t => {
  const stack = await startStack(t, { sim: { pageSize: 7, accounts: [{ username: DEMO_USERNAME, password: DEMO_PASSWORD, extraChildren: 40 }] } })
  const res = await postDocument(stack.url, 'paged.edi', 'x')
  t.equal(res.status, 201)
  t.equal(res.json().subspace, 'upload')
  t.ok(stack.sim.calls.children >= 6, `children were paged (${stack.sim.calls.children} pages)`)
  const starts = stack.sim.requests.filter(r => r.operation === 'children').map(r => new URL(r.path, 'http://x').searchParams.get('startIndex'))
  t.same(starts.slice(0, 3), ['0', '7', '14'], 'startIndex advances by the number of resources received')
  // Memoized: a second upload makes no lookups.
  const before = stack.sim.calls.children
  t.equal((await postDocument(stack.url, 'second.edi', 'y')).status, 201)
  t.equal(stack.sim.calls.children, before)
})

t.test('a folder id CIC no longer knows (404) is forgotten, looked up again and the upload replayed', async t => {
  const stack = await startStack(t)
  t.equal((await postDocument(stack.url, 'one.edi', '1')).status, 201)
  stack.sim.recreateFolders(DEMO_USERNAME)
  const res = await postDocument(stack.url, 'two.edi', '2')
  t.equal(res.status, 201)
  t.equal(stack.sim.calls.folders, 2, 'looked up again')
  t.same(stack.sim.files().map(f => f.name).sort(), ['one.edi', 'two.edi'])
})

t.test('CIC_UPLOAD_FOLDER selects another child, matched on subspace then name', async t => {
  const stack = await startStack(t, { env: { CIC_UPLOAD_FOLDER: 'nonexistent' } })
  const res = await postDocument(stack.url, 'x.edi', 'x')
  t.equal(res.status, 502)
  t.match(res.json().detail, /no folder named "nonexistent"/)
  t.equal(stack.sim.calls.upload, 0)
})
