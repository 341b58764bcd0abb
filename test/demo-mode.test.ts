import t from 'tap'
import { postDocument, send } from './helpers/http.js'
import { spawnGateway } from './helpers/process.js'

t.test('with no CIC configured, the gateway starts on the bundled simulator, warns, delivers and exits 0 on SIGTERM', async t => {
  const gw = await spawnGateway({ SHUTDOWN_DELAY_SECONDS: '0' })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  t.ok(gw.lines.some(l => l.event === 'demo' && l.level === 40), 'a warning says documents go to the simulator')
  const res = await postDocument(gw.url, 'demo.edi', 'hello CIC')
  t.equal(res.status, 201)
  t.equal(res.json().name, 'demo.edi')
  t.equal((await send(`${gw.url}/readyz`, { method: 'GET' })).status, 200)
  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0, 'exits 0')
})

t.test('NODE_ENV=production without CIC_BASE_URL refuses to start with one clear message', async t => {
  const err = await spawnGateway({ NODE_ENV: 'production' }).then(() => undefined, (e: Error) => e)
  t.ok(err)
  t.match(err?.message, /exited with 78/)
  t.match(err?.message, /CIC_BASE_URL is required when NODE_ENV=production/)
})
