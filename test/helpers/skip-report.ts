// Deployment tests skipped because a tool .ci/install-tools.sh installs is missing. Each
// skip is recorded (test/deploy/helpers/tools.ts) and, after the suite, printed in one
// block naming the missing tools and every test that did not run, so a green `npm test`
// on a machine without the tools cannot pass for a full run. (In CI a missing tool fails.)
import { randomUUID } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const SKIPS_ROOT = fileURLToPath(new URL('../../.cache/deploy-skips/', import.meta.url))
/**
 * One folder per tap run: the runner is the parent of the before/after hooks and of every
 * test file, so parallel runs in one checkout do not see (or erase) each other's skips.
 */
export const SKIP_DIR = join(SKIPS_ROOT, String(process.ppid))

export interface SkipRecord {
  /** The test file, relative to the repository root. */
  file: string
  missing: string[]
  /** The skipped tests' names, as tap reported them. */
  tests: string[]
  /** A test that ran anyway, leaving out what needs the missing tools. */
  partial: boolean
}

/** Returns a function that records the skipped tests seen so far (called again as more are seen). */
export function skipRecorder (file: string, missing: string[], partial: boolean): (tests: string[]) => void {
  mkdirSync(SKIP_DIR, { recursive: true })
  const path = join(SKIP_DIR, `${process.pid}-${randomUUID()}.json`)
  const write = (tests: string[]): void => { writeFileSync(path, JSON.stringify({ file, missing, tests, partial } satisfies SkipRecord)) }
  write([])
  return write
}

/** Before the suite: this run's folder empty, and the folders of runs no longer alive gone. */
export function resetSkips (): void {
  rmSync(SKIP_DIR, { recursive: true, force: true })
  let runs: string[]
  try { runs = readdirSync(SKIPS_ROOT) } catch { return }
  for (const run of runs) {
    if (!/^\d+$/.test(run) || alive(Number(run))) continue
    rmSync(join(SKIPS_ROOT, run), { recursive: true, force: true })
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function readSkips (dir = SKIP_DIR): SkipRecord[] {
  let files: string[]
  try { files = readdirSync(dir) } catch { return [] }
  return files.filter(f => f.endsWith('.json')).map(f => JSON.parse(readFileSync(join(dir, f), 'utf8')) as SkipRecord)
}

/** The block printed after the suite; empty when nothing was skipped. */
export function formatSkips (records: SkipRecord[]): string {
  if (records.length === 0) return ''
  const byFile = new Map<string, { missing: Set<string>, tests: Set<string>, partial: Set<string> }>()
  for (const r of records) {
    const entry = byFile.get(r.file) ?? { missing: new Set<string>(), tests: new Set<string>(), partial: new Set<string>() }
    for (const m of r.missing) (r.partial ? entry.partial : entry.missing).add(m)
    for (const name of r.tests) entry.tests.add(name)
    byFile.set(r.file, entry)
  }
  const missing = [...new Set(records.flatMap(r => r.missing))].sort()
  const total = [...byFile.values()].reduce((n, e) => n + e.tests.size, 0)
  const lines = [
    '',
    '#'.repeat(88),
    `# ${total > 0 ? `DEPLOYMENT TESTS SKIPPED: ${total} did not run` : 'DEPLOYMENT CHECKS INCOMPLETE'}, because ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed.`,
    '# Run `bash .ci/install-tools.sh` (CI does; there a missing tool fails the suite), then `npm test` again.'
  ]
  for (const [file, entry] of [...byFile].sort(([a], [b]) => a.localeCompare(b))) {
    if (entry.tests.size > 0) {
      lines.push(`# ${file} (needs ${[...entry.missing].sort().join(', ')}): ${entry.tests.size} skipped`)
      for (const name of entry.tests) lines.push(`#   - ${name}`)
    }
    if (entry.partial.size > 0) lines.push(`# ${file}: a test ran without its checks that need ${[...entry.partial].sort().join(', ')}`)
  }
  lines.push('#'.repeat(88), '')
  return lines.join('\n')
}
