// Store and forward (issue 14): OUTBOX_DIR enables the outbox, a queue on a persistent disk
// from which accepted documents are delivered; OUTBOX_MAX_BYTES, OUTBOX_MAX_AGE_SECONDS and
// OUTBOX_CONCURRENCY bound it. Demo mode (no CIC tenant) enables one in a temporary
// directory, so `Prefer: respond-async` can be tried from a fresh clone.
import { randomUUID } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EnvValues } from './env-schema.js'
import type { Findings } from './findings.js'
import { nonEmpty, type Env } from './secrets.js'
import type { OutboxConfig } from './types.js'

const NEED_DIR = ['OUTBOX_MAX_BYTES', 'OUTBOX_MAX_AGE_SECONDS', 'OUTBOX_CONCURRENCY']

export function loadOutbox (env: Env, values: EnvValues | undefined, demo: boolean, found: Findings): OutboxConfig | undefined {
  if (values === undefined) return undefined
  const settings = { maxBytes: values.OUTBOX_MAX_BYTES, maxAgeMs: values.OUTBOX_MAX_AGE_SECONDS * 1000, concurrency: values.OUTBOX_CONCURRENCY }
  const dir = values.OUTBOX_DIR
  if (dir === undefined) {
    // A directory of its own per process (several demo gateways may run at once), removed when the gateway stops.
    if (demo) return { dir: join(tmpdir(), `cic-gateway-outbox-demo-${randomUUID()}`), ...settings, temporary: true }
    for (const name of NEED_DIR.filter(n => nonEmpty(env[n]) !== undefined)) {
      found.warn(`${name} is set but OUTBOX_DIR is not: it is unused, and Prefer: respond-async requests are delivered synchronously`)
    }
    return undefined
  }
  if (values.OUTBOX_MAX_BYTES < values.MAX_BODY_BYTES) {
    found.warn('OUTBOX_MAX_BYTES is below MAX_BODY_BYTES: the largest documents can be delivered synchronously but never accepted into the outbox')
  }
  if (values.SPOOL_DIR === dir) found.problem('OUTBOX_DIR must not be SPOOL_DIR (the spool is temporary, the outbox must be kept)')
  return { dir, ...settings }
}
