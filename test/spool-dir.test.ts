// Gateways sharing one SPOOL_DIR (the default is in os.tmpdir()) must not remove each other's
// spool files: each process spools into SPOOL_DIR/<host>-<pid>, and at start removes only the
// directories of this host's dead processes. A clean shutdown removes its own.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSimulator, DEMO_PASSWORD, DEMO_USERNAME } from '../src/simulator/index.js'
import { spawnGateway } from './helpers/process.js'

t.test('a starting gateway removes dead processes\' spool directories, never a live one\'s; its own goes at shutdown', async t => {
  const sim = await startSimulator({ keepBodies: false })
  const root = await mkdtemp(join(tmpdir(), 'cic-gateway-spool-shared-'))
  t.teardown(async () => { await sim.close(); await rm(root, { recursive: true, force: true }) })
  // A pid that has just exited, and one that runs (this test's process), both of this host.
  const deadPid = spawnSync(process.execPath, ['-e', '']).pid!
  const dead = join(root, `${hostname()}-${deadPid}`)
  const live = join(root, `${hostname()}-${process.pid}`)
  const otherHost = join(root, `not-${hostname()}-1`)
  for (const dir of [dead, live, otherHost]) {
    await mkdir(dir)
    await writeFile(join(dir, 'x.spool'), 'half a document')
  }

  const gw = await spawnGateway({ CIC_BASE_URL: sim.url, CIC_USERNAME: DEMO_USERNAME, CIC_PASSWORD: DEMO_PASSWORD, SPOOL_DIR: root, SHUTDOWN_DELAY_SECONDS: '0' })
  const own = `${hostname()}-${gw.child.pid}`
  t.same((await readdir(root)).sort(), [own, `${hostname()}-${process.pid}`, `not-${hostname()}-1`].sort(), 'the dead process\'s directory is gone; the live one\'s and another host\'s stay')
  t.same(await readdir(live), ['x.spool'], 'a live neighbour\'s spool file is untouched')
  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
  t.notOk((await readdir(root)).includes(own), 'a clean shutdown removes its own directory')
})
