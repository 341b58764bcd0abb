import t from 'tap'
import { postDocument } from './helpers/http.js'
import { makeCa, startTlsFront } from './helpers/egress.js'
import { startStack } from './helpers/stack.js'
import { startSimulator } from '../src/simulator/index.js'

t.test('a CIC certificate from a private CA is refused without CIC_CA_FILE: 502, nothing sent', async t => {
  const ca = makeCa(t)
  const backend = await startSimulator({ keepBodies: true })
  t.teardown(() => backend.close())
  const tls = await startTlsFront(t, ca, backend.port)
  const stack = await startStack(t, { env: { CIC_BASE_URL: `https://localhost:${tls.port}` } })
  const res = await postDocument(stack.url, 'po.edi', 'ISA*')
  t.equal(res.status, 502)
  t.equal(res.json().type, 'urn:cic-gateway:problem:cic-tls-untrusted')
  t.equal(res.json().delivered, 'no')
  t.match(res.json().detail, /CIC_CA_FILE/)
  t.ok(tls.handshakes() >= 1, 'the gateway did connect and try TLS')
  t.same(backend.calls, { login: 0, folders: 0, children: 0, upload: 0 }, 'not even the login went through: no password was sent')
})

t.test('with CIC_CA_FILE the same CIC is trusted and the document is delivered over TLS', async t => {
  const ca = makeCa(t)
  const backend = await startSimulator({ keepBodies: true })
  t.teardown(() => backend.close())
  const tls = await startTlsFront(t, ca, backend.port)
  const stack = await startStack(t, { env: { CIC_BASE_URL: `https://localhost:${tls.port}`, CIC_CA_FILE: ca.caFile } })
  const res = await postDocument(stack.url, 'po.edi', 'ISA*')
  t.equal(res.status, 201)
  t.same(backend.files().map(f => f.name), ['po.edi'])
  t.equal(stack.logs().find(l => l.event === 'egress')?.caFile, ca.caFile, 'start-up says which CA file is trusted')
})

t.test('NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment does not turn verification off', async t => {
  const ca = makeCa(t)
  const backend = await startSimulator({ keepBodies: true })
  t.teardown(() => backend.close())
  const tls = await startTlsFront(t, ca, backend.port)
  const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
  t.teardown(() => {
    if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = before
  })
  const stack = await startStack(t, { env: { CIC_BASE_URL: `https://localhost:${tls.port}` } })
  const res = await postDocument(stack.url, 'po.edi', 'ISA*')
  t.equal(res.status, 502)
  t.equal(res.json().type, 'urn:cic-gateway:problem:cic-tls-untrusted')
  t.equal(backend.calls.login, 0)
})

t.test('a CIC_CA_FILE that is not a PEM bundle stops start-up', async t => {
  await t.rejects(startStack(t, { env: { CIC_CA_FILE: '/etc/hostname' } }), /CIC_CA_FILE \(\/etc\/hostname\) holds no PEM certificate/)
  await t.rejects(startStack(t, { env: { CIC_CA_FILE: '/nonexistent/ca.pem' } }), /CIC_CA_FILE \(\/nonexistent\/ca\.pem\) cannot be read: ENOENT/)
})
