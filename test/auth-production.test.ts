import t from 'tap'
import { postDocument } from './helpers/http.js'
import { spawnGateway } from './helpers/process.js'

// Start-up never calls CIC, so a loopback base URL with nothing behind it is enough here.
const TENANT = { NODE_ENV: 'production', CIC_BASE_URL: 'http://127.0.0.1:9', CIC_USERNAME: 'app', CIC_PASSWORD: 'Pr0d@Passw0rd&+%', SHUTDOWN_DELAY_SECONDS: '0' }

t.test('NODE_ENV=production without API keys refuses to start, naming the fix', async t => {
  const err = await spawnGateway(TENANT).then(() => undefined, (e: Error) => e)
  t.match(err?.message, /exited with 78/)
  t.match(err?.message, /no API key is configured and NODE_ENV=production/)
  t.match(err?.message, /GATEWAY_AUTH=none/)
  t.notMatch(err?.message, /Pr0d@/, 'no secret in the message')
})

t.test('NODE_ENV=production with GATEWAY_AUTH=none starts, warns, and lets callers in without a key', async t => {
  const gw = await spawnGateway({ ...TENANT, GATEWAY_AUTH: 'none' })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  const warning = gw.lines.find(l => l.event === 'auth')
  t.equal(warning?.level, 40, 'a warning at start-up')
  t.equal(warning?.mode, 'none')
  t.match(String(warning?.msg), /authentication is OFF/)
  // No CIC behind the URL: the request passes authentication and fails at CIC.
  const res = await postDocument(gw.url, 'x.edi', 'x')
  t.equal(res.status, 503)
  t.equal(res.json().type, 'urn:cic-gateway:problem:cic-unreachable')
  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
})

t.test('NODE_ENV=production with keys starts and requires them', async t => {
  const key = 'prod-key-4c2a91d7e8b3f605'
  const gw = await spawnGateway({ ...TENANT, GATEWAY_API_KEYS: key })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  t.equal(gw.lines.find(l => l.event === 'auth')?.level, 30, 'no warning')
  t.equal((await postDocument(gw.url, 'x.edi', 'x')).status, 401)
  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
})

t.test('GATEWAY_AUTH=none together with keys is a contradiction and refused', async t => {
  const err = await spawnGateway({ ...TENANT, GATEWAY_AUTH: 'none', GATEWAY_API_KEYS: 'prod-key-4c2a91d7e8b3f605' }).then(() => undefined, (e: Error) => e)
  t.match(err?.message, /GATEWAY_AUTH=none, yet API keys are configured/)
  t.notMatch(err?.message, /prod-key/)
})
