import t from 'tap'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from 'undici'
import { postDocument, send } from './helpers/http.js'
import { spawnGateway } from './helpers/process.js'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator } from '../src/simulator/index.js'

const MiB = 1024 * 1024

/** 100 MiB, paced so that the upload is still running when the shutdown delay ends. */
function pacedBody (total: number, chunk: number, gapMs: number): Readable {
  let sent = 0
  const buf = Buffer.alloc(chunk, 's')
  return new Readable({
    read () {
      if (sent >= total) { this.push(null); return }
      sent += chunk
      setTimeout(() => this.push(buf), gapMs)
    }
  })
}

t.test('SIGTERM with a 100 MiB upload in flight: readyz 503 at once, new requests served during the delay then refused, the upload completes with 201, exit 0', async t => {
  const sim = await startSimulator({ keepBodies: false })
  t.teardown(async () => { await sim.close() })
  const gw = await spawnGateway({ CIC_BASE_URL: sim.url, CIC_USERNAME: DEMO_USERNAME, CIC_PASSWORD: DEMO_PASSWORD, SHUTDOWN_DELAY_SECONDS: '1', SHUTDOWN_TIMEOUT_SECONDS: '60' })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  t.equal((await postDocument(gw.url, 'warm.edi', 'w')).status, 201)

  const keepAlive = new Client(gw.url)
  t.teardown(async () => { await keepAlive.destroy() })
  t.equal((await keepAlive.request({ method: 'GET', path: '/livez' }).then(async r => { await r.body.text(); return r.statusCode })), 200)

  const total = 100 * MiB
  const upload = postDocument(gw.url, 'big-at-sigterm.edi', pacedBody(total, MiB, 30), { 'content-length': String(total) })
  while (!sim.requests.some(r => r.operation === 'upload' && r.path.includes('/files') && sim.calls.upload >= 2)) await sleep(20)

  gw.child.kill('SIGTERM')
  await sleep(100)
  const ready = await send(`${gw.url}/readyz`, { method: 'GET' })
  t.equal(ready.status, 503, '/readyz fails at once')
  const during = await postDocument(gw.url, 'during-delay.edi', 'still served')
  t.equal(during.status, 201, 'new requests are served during the shutdown delay')

  await sleep(1300)
  const after = await keepAlive.request({ method: 'POST', path: '/documents?filename=after.edi', body: 'x' })
  t.equal(after.statusCode, 503, 'after the delay new requests get 503')
  t.equal(after.headers.connection, 'close', 'with Connection: close')
  t.match(await after.body.text(), /shutting-down/)

  const res = await upload
  t.equal(res.status, 201, 'the in-flight upload completed')
  t.equal(sim.files().find(f => f.name === 'big-at-sigterm.edi')?.size, total, 'CIC holds all 100 MiB')
  t.equal(await gw.exited, 0, 'the process exits 0')
  t.ok(gw.lines.some(l => l.event === 'shutdown' && l.phase === 'done'), 'shutdown logged')
})

t.test('a second signal forces the exit', async t => {
  const sim = await startSimulator({ keepBodies: false })
  t.teardown(async () => { await sim.close() })
  const gw = await spawnGateway({ CIC_BASE_URL: sim.url, CIC_USERNAME: DEMO_USERNAME, CIC_PASSWORD: DEMO_PASSWORD, SHUTDOWN_DELAY_SECONDS: '30' })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  t.equal((await postDocument(gw.url, 'warm.edi', 'w')).status, 201)
  gw.child.kill('SIGTERM')
  await sleep(200)
  gw.child.kill('SIGTERM')
  const code = await Promise.race([gw.exited, sleep(10_000).then(() => 'still running')])
  t.not(code, 'still running', 'exited without waiting out the 30 s delay')
  t.not(code, 0, 'a forced exit is not a clean one')
})
