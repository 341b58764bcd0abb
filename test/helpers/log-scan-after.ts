// tap `after`: the whole suite's gateway logs, searched for every configured secret and
// every CIC token issued. Exits non-zero (failing `npm test`) on any find, or when no log
// was recorded at all (a scan of nothing proves nothing). First, skip-report-after.ts prints
// the deployment tests skipped for want of a tool.
import './skip-report-after.js'
import { readLogs, scanLogs } from './log-scan.js'

const records = readLogs()
const { leaks, secrets } = scanLogs(records)
const bytes = records.reduce((n, r) => n + r.log.length, 0)
if (records.length === 0) {
  process.stderr.write('secret scan: no gateway log was recorded; the scan would prove nothing\n')
  process.exit(1)
}
if (leaks.length > 0) {
  for (const l of leaks) process.stderr.write(`secret scan: a secret (${l.secretPrefix}...) configured in [${l.ownerTests.join(', ')}] appears in the log of ${l.test}\n`)
  process.exit(1)
}
process.stdout.write(`# secret scan: ${records.length} gateway logs (${bytes} bytes) searched for ${secrets} secrets and tokens: none found\n`)
