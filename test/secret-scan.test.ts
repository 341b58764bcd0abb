import t from 'tap'
import { scanLogs } from './helpers/log-scan.js'

// The suite-wide scan (tap `after`: test/helpers/log-scan-after.ts) is only as good as this search.
t.test('the log scan finds any configured secret in any test\'s log, plain or JSON-escaped', async t => {
  const password = 'Demo@Passw0rd&+%"x'
  const { leaks, secrets } = scanLogs([
    { test: 'a', secrets: [password, 'short'], log: '{"msg":"ok"}\n' },
    { test: 'b', secrets: ['api-key-0123456789abcdef'], log: `{"msg":"login","password":${JSON.stringify(password)}}\n` },
    { test: 'c', secrets: [], log: '{"msg":"Bearer api-key-0123456789abcdef"}\n' }
  ])
  t.same(leaks.map(l => [l.test, l.secretPrefix, l.ownerTests]), [
    ['b', 'Demo', ['a']],
    ['c', 'api-', ['b']]
  ], 'a secret of one test found in another test\'s log, JSON-escaped or not')
  t.ok(secrets >= 2, 'secrets shorter than 8 characters are skipped (fixtures like "p" would match anywhere)')
})

t.test('a clean set of logs has no leak', async t => {
  t.same(scanLogs([{ test: 'a', secrets: ['Sup3r-Secret-Value'], log: '{"password":"[redacted]"}' }]).leaks, [])
})
