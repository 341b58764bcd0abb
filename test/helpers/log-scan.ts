// Suite-wide secret scan. Every gateway a test starts (in-process or as a process) records
// its whole log and the secrets it was configured with; after the suite, tap runs
// log-scan-after.ts, which searches every log for every secret of every test.
import { randomUUID } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const LOG_SCAN_DIR = fileURLToPath(new URL('../../.cache/log-scan/', import.meta.url))
/** Shorter values (test fixtures like "p") would match by accident; real secrets are longer. */
export const MIN_SECRET_LENGTH = 8

export interface LogRecord {
  test: string
  secrets: string[]
  log: string
}

export function recordLog (test: string, secrets: Iterable<string>, log: string): void {
  mkdirSync(LOG_SCAN_DIR, { recursive: true })
  const record: LogRecord = { test, secrets: [...new Set(secrets)], log }
  writeFileSync(join(LOG_SCAN_DIR, `${process.pid}-${randomUUID()}.json`), JSON.stringify(record))
}

export function resetLogs (): void {
  rmSync(LOG_SCAN_DIR, { recursive: true, force: true })
  mkdirSync(LOG_SCAN_DIR, { recursive: true })
}

export function readLogs (): LogRecord[] {
  let files: string[]
  try { files = readdirSync(LOG_SCAN_DIR) } catch { return [] }
  return files.filter(f => f.endsWith('.json')).map(f => JSON.parse(readFileSync(join(LOG_SCAN_DIR, f), 'utf8')) as LogRecord)
}

export interface Leak {
  test: string
  /** The first characters of the secret, enough to find it in the fixtures, not to use it. */
  secretPrefix: string
  ownerTests: string[]
}

/** Every log is searched for every secret, whoever configured it. */
export function scanLogs (records: LogRecord[]): { leaks: Leak[], secrets: number } {
  const owners = new Map<string, Set<string>>()
  for (const r of records) {
    for (const s of r.secrets) {
      if (s.length < MIN_SECRET_LENGTH) continue
      // A secret that reaches a log may be escaped as JSON; search both forms.
      for (const form of new Set([s, JSON.stringify(s).slice(1, -1)])) {
        const set = owners.get(form) ?? new Set<string>()
        set.add(r.test)
        owners.set(form, set)
      }
    }
  }
  const leaks: Leak[] = []
  for (const r of records) {
    for (const [secret, tests] of owners) {
      if (r.log.includes(secret)) leaks.push({ test: r.test, secretPrefix: secret.slice(0, 4), ownerTests: [...tests] })
    }
  }
  return { leaks, secrets: owners.size }
}
