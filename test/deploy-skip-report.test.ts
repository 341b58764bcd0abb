// Without the tools .ci/install-tools.sh installs, the deployment tests that need them are
// skipped, and the run must say so loudly (tap's `after` hook prints the block built here).
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t from 'tap'
import { formatSkips, readSkips, SKIPS_ROOT } from './helpers/skip-report.js'
import { repoRoot } from './deploy/helpers/tools.js'

t.test('a deployment test skipped for a missing tool is named, with the tool, in the after-suite report', async t => {
  const emptyTools = await mkdtemp(join(tmpdir(), 'cic-gateway-no-tools-'))
  // The test file's runner is this process, so its skips are recorded under this pid.
  const runDir = join(SKIPS_ROOT, String(process.pid))
  t.teardown(async () => {
    await rm(emptyTools, { recursive: true, force: true })
    await rm(runDir, { recursive: true, force: true })
  })
  const env: Record<string, string> = { PATH: dirname(process.execPath), CIC_TOOLS_DIR: emptyTools }
  const out = await new Promise<string>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', join(repoRoot, 'test', 'deploy', 'dockerfile.test.ts')], { cwd: repoRoot, env, encoding: 'utf8' }, (_err, stdout) => { resolve(stdout) })
  })
  t.match(out, /# SKIP hadolint not found/, 'the test file itself skips the hadolint test')
  const records = readSkips(runDir)
  t.same(records.map(r => ({ file: r.file, missing: r.missing, tests: r.tests })), [{
    file: 'test/deploy/dockerfile.test.ts',
    missing: ['hadolint'],
    tests: ['hadolint parses the Dockerfile and reports nothing']
  }])
  const report = formatSkips(records)
  t.match(report, /DEPLOYMENT TESTS SKIPPED: 1 did not run, because hadolint is not installed/)
  t.match(report, /bash \.ci\/install-tools\.sh/)
  t.match(report, /test\/deploy\/dockerfile\.test\.ts \(needs hadolint\): 1 skipped\n# {3}- hadolint parses the Dockerfile and reports nothing/)
})

t.test('nothing skipped, nothing printed', async t => {
  t.equal(formatSkips([]), '')
})
