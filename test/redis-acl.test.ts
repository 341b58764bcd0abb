// The README's ACL line for a shared Redis instance, taken from the README as written: a
// real redis-server with that user (and a default user the gateway must not need), two
// real gateway processes logged in as it. Everything the gateway does with Redis works
// within it: keyed delivery, the stored 201 from the other replica, one shared CIC login.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { postDocument } from './helpers/http.js'
import { spawnGateway } from './helpers/process.js'
import { startRedis } from './helpers/redis.js'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator } from '../src/simulator/index.js'

const README = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8')
const ACL_PASSWORD = 'acl-pass-5d02b7c91e3f'
const DEFAULT_PASSWORD = 'default-pass-0a8e4c6d2b19'

t.test('the README\'s ACL SETUSER line is enough for two replicas: keyed delivery, the stored 201 on the other, one login', async t => {
  const line = /^ACL SETUSER (.+)$/m.exec(README)?.[1]
  if (line === undefined) throw new Error('README has no ACL SETUSER line')
  const [user, ...rules] = line.trim().split(/\s+/)
  t.ok(rules.includes('-@all'), 'the line starts from no commands at all')
  // The same rules as a redis-server start-up argument (--user is a config line).
  const redis = await startRedis(t, { password: DEFAULT_PASSWORD, args: ['--user', user!, ...rules.map(r => r === '>PASSWORD' ? `>${ACL_PASSWORD}` : r)] })
  const sim = await startSimulator({ sameNamePolicy: 'rename', singleSession: true })
  t.teardown(async () => { await sim.close() })
  const env = {
    CIC_BASE_URL: sim.url,
    CIC_USERNAME: DEMO_USERNAME,
    CIC_PASSWORD: DEMO_PASSWORD,
    REDIS_URL: redis.url.replace('redis://', `redis://${user!}@`) + '/1',
    REDIS_PASSWORD: ACL_PASSWORD
  }
  const a = await spawnGateway(env, 20_000, [ACL_PASSWORD])
  t.teardown(() => { a.child.kill('SIGKILL') })
  const b = await spawnGateway(env, 20_000, [ACL_PASSWORD])
  t.teardown(() => { b.child.kill('SIGKILL') })

  const first = await postDocument(a.url, 'acl.edi', 'order', { 'idempotency-key': 'k-acl' })
  t.equal(first.status, 201, `keyed delivery (${first.text.slice(0, 120)})`)
  const again = await postDocument(b.url, 'acl.edi', 'order', { 'idempotency-key': 'k-acl' })
  t.equal(again.status, 201)
  t.equal(again.headers['idempotent-replayed'], 'stored', 'the other replica answers from the record in Redis')
  t.equal((await postDocument(b.url, 'plain.edi', 'no key')).status, 201)
  t.equal(sim.calls.login, 1, 'one login for both: the token is shared under the ACL user too')
  t.equal(sim.calls.upload, 2)
})
