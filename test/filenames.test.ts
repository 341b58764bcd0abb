import t from 'tap'
import { multipart, send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

const BAD: Array<[string, string]> = [
  ['empty', ''],
  ['dot', '.'],
  ['dot-dot', '..'],
  ['slash', 'a/b.edi'],
  ['traversal', '../../etc/passwd'],
  ['backslash', 'a\\b.edi'],
  ['CR LF', 'a\r\nX-Injected: 1.edi'],
  ['NUL', 'a\u0000b.edi'],
  ['tab', 'a\tb.edi'],
  ['DEL', 'a\u007fb.edi'],
  ['over 255 bytes', `${'é'.repeat(128)}.edi`]
]

t.test('each bad filename is refused with 400 on every path, and nothing reaches CIC', async t => {
  const stack = await startStack(t)
  for (const [label, name] of BAD) {
    const q = await send(`${stack.url}/documents?filename=${encodeURIComponent(name)}`, { body: 'x' })
    t.equal(q.status, 400, `query: ${label}`)
    t.match(q.headers['content-type'], /^application\/problem\+json/)
    t.match(q.json().type, /filename-(missing|invalid)$/, `query: ${label} problem type`)

    const star = await send(`${stack.url}/documents`, { body: 'x', headers: { 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name)}` } })
    t.equal(star.status, 400, `filename*: ${label}`)

    if (!/[\r\n\u0000\t\u007f]/.test(name) && name !== '') {
      const plain = await send(`${stack.url}/documents`, { body: 'x', headers: { 'content-disposition': `attachment; filename="${name.replace(/\\/g, '\\\\')}"` } })
      t.equal(plain.status, 400, `filename=: ${label}`)
    }

    if (name !== '' && !/[\r\n\u0000]/.test(name)) {
      const mp = await send(`${stack.url}/documents`, multipart([{ name: 'file', value: 'x', filename: name }]))
      t.equal(mp.status, 400, `multipart: ${label}`)
    }
  }
  const none = await send(`${stack.url}/documents`, { body: 'x' })
  t.equal(none.status, 400, 'no filename at all')
  t.equal(none.json().type, 'urn:cic-gateway:problem:filename-missing')
  t.equal(stack.sim.calls.upload, 0, 'CIC never saw an upload')
})

t.test('a problem body does not reflect the bad filename', async t => {
  const stack = await startStack(t)
  const res = await send(`${stack.url}/documents?filename=${encodeURIComponent('<img src=x>/x')}`, { body: 'x' })
  t.equal(res.status, 400)
  t.notMatch(res.text, /<img/)
})

t.test('a name of exactly 255 bytes is accepted', async t => {
  const stack = await startStack(t)
  const name = `${'a'.repeat(251)}.edi`
  const res = await send(`${stack.url}/documents?filename=${name}`, { body: 'x' })
  t.equal(res.status, 201)
})
