import t from 'tap'
import { multipart, send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

t.test('multipart/form-data: the one file part is the document, named by its part filename', async t => {
  const stack = await startStack(t)
  const form = multipart([{ name: 'note', value: 'ignored field' }, { name: 'document', value: 'ST*850*0001~', filename: 'order.edi' }])
  const res = await send(`${stack.url}/documents`, form)
  t.equal(res.status, 201)
  t.equal(res.json().name, 'order.edi')
  t.same(stack.sim.files()[0]?.data, Buffer.from('ST*850*0001~'), 'only the file part\'s bytes reach CIC')
})

t.test('multipart: ?filename= overrides the part filename', async t => {
  const stack = await startStack(t)
  const form = multipart([{ name: 'file', value: 'x', filename: 'part-name.edi' }])
  const res = await send(`${stack.url}/documents?filename=query-name.edi`, form)
  t.equal(res.status, 201)
  t.equal(stack.sim.files()[0]?.name, 'query-name.edi')
})

t.test('multipart: two file parts, or none, are refused and nothing reaches CIC', async t => {
  const stack = await startStack(t)
  const two = multipart([{ name: 'a', value: '1', filename: 'a.edi' }, { name: 'b', value: '2', filename: 'b.edi' }])
  const r2 = await send(`${stack.url}/documents`, two)
  t.equal(r2.status, 400)
  t.equal(r2.json().type, 'urn:cic-gateway:problem:multipart-too-many-files')
  const none = multipart([{ name: 'just', value: 'a field' }])
  const r0 = await send(`${stack.url}/documents`, none)
  t.equal(r0.status, 400)
  t.equal(r0.json().type, 'urn:cic-gateway:problem:multipart-no-file')
  t.equal(stack.sim.calls.upload, 0)
  t.same(await stack.spoolFiles(), [])
})
