// One gateway per outbox: two processes delivering from one OUTBOX_DIR would upload the same
// queued documents twice. A second gateway on a directory in use refuses to start and says
// why; a lock left by a dead process (SIGKILL) is taken over at once on the same host, and
// one of another host once its heartbeat has stopped.
import t from 'tap'
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { OutboxLock, OutboxLockedError } from '../src/delivery/outbox/lock.js'
import { createLogger } from '../src/observability/logger.js'
import { startSimulator, DEMO_PASSWORD, DEMO_USERNAME } from '../src/simulator/index.js'
import { spawnGateway } from './helpers/process.js'

const quiet = createLogger('warn', new Writable({ write (_c, _e, cb) { cb() } }))

async function tempDir (t: { teardown: (fn: () => unknown) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cic-gateway-lock-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

t.test('a second gateway on an OUTBOX_DIR in use refuses to start; after a SIGKILL the next one takes the directory over', async t => {
  const sim = await startSimulator({ keepBodies: false })
  t.teardown(async () => { await sim.close() })
  const dir = await tempDir(t)
  const env = { CIC_BASE_URL: sim.url, CIC_USERNAME: DEMO_USERNAME, CIC_PASSWORD: DEMO_PASSWORD, OUTBOX_DIR: dir, SHUTDOWN_DELAY_SECONDS: '0' }

  const first = await spawnGateway(env)
  t.teardown(() => { first.child.kill('SIGKILL') })
  const second = await spawnGateway(env).then(() => undefined, (err: Error) => err)
  t.ok(second instanceof Error, 'the second gateway did not start')
  t.match(second?.message, new RegExp(`OUTBOX_DIR is in use by process ${first.child.pid} on ${hostname()}`), 'and says which process holds the directory')
  t.match(second?.message, /exited with 1/)

  first.child.kill('SIGKILL')
  await first.exited
  const holder = JSON.parse(await readFile(join(dir, 'lock'), 'utf8')) as { pid: number }
  t.equal(holder.pid, first.child.pid, 'the killed gateway left its lock behind')
  const third = await spawnGateway(env)
  t.teardown(() => { third.child.kill('SIGKILL') })
  t.ok(third.lines.some(l => l.event === 'outbox.lock' && (l.holder as { pid?: number } | undefined)?.pid === first.child.pid), 'the next gateway logged that it took over the dead one\'s lock')
  third.child.kill('SIGTERM')
  t.equal(await third.exited, 0)
  await t.rejects(readFile(join(dir, 'lock')), { code: 'ENOENT' }, 'a clean shutdown removes the lock')
})

t.test('in one process: a held lock is refused, a released one can be taken again', async t => {
  const dir = await tempDir(t)
  const lock = await OutboxLock.acquire(dir, quiet)
  await t.rejects(OutboxLock.acquire(dir, quiet), OutboxLockedError)
  await lock.release()
  const again = await OutboxLock.acquire(dir, quiet)
  await again.release()
})

t.test('another host\'s lock: waited for while its heartbeat goes on, taken over once it stops', async t => {
  const dir = await tempDir(t)
  const foreign = { pid: 1, host: `not-${hostname()}`, token: 'foreign', since: new Date().toISOString() }
  await writeFile(join(dir, 'lock'), JSON.stringify(foreign))
  // Beating: still fresh when the wait (staleMs + heartbeatMs) runs out.
  const beat = setInterval(() => { void utimes(join(dir, 'lock'), new Date(), new Date()) }, 50)
  const refused = await OutboxLock.acquire(dir, quiet, { staleMs: 400, heartbeatMs: 100 }).then(() => undefined, (err: unknown) => err)
  clearInterval(beat)
  t.ok(refused instanceof OutboxLockedError, 'a live holder elsewhere keeps the directory')
  t.match((refused as Error).message, new RegExp(`process 1 on not-${hostname()}`))

  // Silent for longer than staleMs: its holder is gone.
  const old = new Date(Date.now() - 10_000)
  await utimes(join(dir, 'lock'), old, old)
  const lock = await OutboxLock.acquire(dir, quiet, { staleMs: 400, heartbeatMs: 100 })
  t.equal(lock.holder.host, hostname())
  const mtime = async (): Promise<number> => (await stat(join(dir, 'lock'))).mtimeMs
  const before = await mtime()
  await new Promise(resolve => setTimeout(resolve, 350))
  t.ok(await mtime() > before, 'the holder keeps its heartbeat')
  await lock.release()
})

t.test('a torn lock (its writer died before writing it) is judged by its age', async t => {
  const dir = await tempDir(t)
  await writeFile(join(dir, 'lock'), '{"pid": 12')
  const old = new Date(Date.now() - 10_000)
  await utimes(join(dir, 'lock'), old, old)
  const lock = await OutboxLock.acquire(dir, quiet, { staleMs: 1000, heartbeatMs: 100 })
  t.equal(lock.holder.pid, process.pid)
  await lock.release()
})
