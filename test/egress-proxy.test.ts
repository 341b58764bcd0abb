import t from 'tap'
import { postDocument } from './helpers/http.js'
import { makeCa, startConnectProxy, startTlsFront } from './helpers/egress.js'
import { startStack } from './helpers/stack.js'
import { startSimulator } from '../src/simulator/index.js'

async function tlsCic (t: Parameters<typeof makeCa>[0]): Promise<{ caFile: string, url: string, port: number, backend: Awaited<ReturnType<typeof startSimulator>> }> {
  const ca = makeCa(t)
  const backend = await startSimulator({ keepBodies: true })
  t.teardown(() => backend.close())
  const tls = await startTlsFront(t, ca, backend.port)
  return { caFile: ca.caFile, url: `https://localhost:${tls.port}`, port: tls.port, backend }
}

t.test('HTTPS_PROXY: every CIC call goes through the proxy\'s CONNECT tunnel, TLS still verified end to end', async t => {
  const cic = await tlsCic(t)
  const proxy = await startConnectProxy(t)
  const stack = await startStack(t, { env: { CIC_BASE_URL: cic.url, CIC_CA_FILE: cic.caFile, HTTPS_PROXY: proxy.url } })
  const res = await postDocument(stack.url, 'via-proxy.edi', 'ISA*')
  t.equal(res.status, 201)
  t.same(cic.backend.files().map(f => f.name), ['via-proxy.edi'])
  t.ok(proxy.tunnels.length >= 1)
  t.ok(proxy.tunnels.every(target => target === `localhost:${cic.port}`), 'tunnels go to CIC\'s host and port')
  t.equal(stack.logs().find(l => l.event === 'egress')?.httpsProxy, proxy.url)
})

t.test('NO_PROXY: matching hosts bypass the proxy', async t => {
  const cic = await tlsCic(t)
  const proxy = await startConnectProxy(t)
  const stack = await startStack(t, { env: { CIC_BASE_URL: cic.url, CIC_CA_FILE: cic.caFile, HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com,localhost' } })
  t.equal((await postDocument(stack.url, 'direct.edi', 'ISA*')).status, 201)
  t.same(proxy.tunnels, [], 'the proxy saw nothing')
})

t.test('a proxy needing credentials gets them from the proxy URL; they never reach a log', async t => {
  const cic = await tlsCic(t)
  const credentials = { user: 'egress', password: 'Pr0xy-Secret-Pass' }
  const proxy = await startConnectProxy(t, { credentials })
  const stack = await startStack(t, { env: { CIC_BASE_URL: cic.url, CIC_CA_FILE: cic.caFile, https_proxy: `http://${credentials.user}:${credentials.password}@${proxy.url.slice(7)}` } })
  t.equal((await postDocument(stack.url, 'auth-proxy.edi', 'ISA*')).status, 201)
  t.ok(proxy.authorizations.every(a => a?.startsWith('Basic ')))
  t.ok(stack.config.secrets.includes(credentials.password), 'the proxy password is a secret the log scan looks for')
  t.equal(stack.logs().find(l => l.event === 'egress')?.httpsProxy, proxy.url, 'the proxy is logged without its credentials')
})

t.test('through the proxy, an untrusted CIC certificate is still refused', async t => {
  const cic = await tlsCic(t)
  const proxy = await startConnectProxy(t)
  const stack = await startStack(t, { env: { CIC_BASE_URL: cic.url, HTTPS_PROXY: proxy.url } })
  const res = await postDocument(stack.url, 'x.edi', 'ISA*')
  t.equal(res.status, 502)
  t.equal(res.json().type, 'urn:cic-gateway:problem:cic-tls-untrusted')
  t.ok(proxy.tunnels.length >= 1, 'the tunnel was opened')
  t.equal(cic.backend.calls.login, 0, 'but no credentials went through it')
})
