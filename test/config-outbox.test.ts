// The OUTBOX_* variables (issue 14): OUTBOX_DIR enables store and forward; without it (and
// outside demo mode) there is no outbox and Prefer: respond-async is ignored.
import { tmpdir } from 'node:os'
import t from 'tap'
import { loadConfig } from '../src/config/index.js'

const TENANT = { CIC_BASE_URL: 'https://acme.cleointegration.com', CIC_USERNAME: 'u', CIC_PASSWORD: 'p' }

t.test('OUTBOX_DIR unset with a tenant: no outbox; OUTBOX_* settings without it are warned about', async t => {
  t.equal(loadConfig(TENANT).outbox, undefined)
  const c = loadConfig({ ...TENANT, OUTBOX_MAX_BYTES: '1000', OUTBOX_CONCURRENCY: '4' })
  t.equal(c.outbox, undefined)
  t.match(c.warnings.join('\n'), /OUTBOX_MAX_BYTES is set but OUTBOX_DIR is not/)
  t.match(c.warnings.join('\n'), /OUTBOX_CONCURRENCY is set but OUTBOX_DIR is not/)
})

t.test('OUTBOX_DIR enables it, with the documented defaults', async t => {
  const c = loadConfig({ ...TENANT, OUTBOX_DIR: '/var/lib/cic-gateway/outbox' })
  t.same(c.outbox, { dir: '/var/lib/cic-gateway/outbox', maxBytes: 1024 ** 3, maxAgeMs: 7 * 24 * 3600 * 1000, concurrency: 2 })
  const set = loadConfig({ ...TENANT, OUTBOX_DIR: '/data/outbox', OUTBOX_MAX_BYTES: String(10 * 1024 ** 3), OUTBOX_MAX_AGE_SECONDS: '3600', OUTBOX_CONCURRENCY: '4' })
  t.same(set.outbox, { dir: '/data/outbox', maxBytes: 10 * 1024 ** 3, maxAgeMs: 3600 * 1000, concurrency: 4 })
})

t.test('bad OUTBOX_* values are named in the one configuration error', async t => {
  const message = (env: Record<string, string>): string => {
    try { loadConfig({ ...TENANT, OUTBOX_DIR: '/data/outbox', ...env }) } catch (err) { return (err as Error).message }
    return ''
  }
  t.match(message({ OUTBOX_CONCURRENCY: '0' }), /OUTBOX_CONCURRENCY/)
  t.match(message({ OUTBOX_MAX_BYTES: 'lots' }), /OUTBOX_MAX_BYTES/)
  t.match(message({ OUTBOX_MAX_AGE_SECONDS: '0' }), /OUTBOX_MAX_AGE_SECONDS/)
  t.match(message({ SPOOL_DIR: '/data/outbox' }), /OUTBOX_DIR must not be SPOOL_DIR/)
  t.match(loadConfig({ ...TENANT, OUTBOX_DIR: '/data/outbox', OUTBOX_MAX_BYTES: '1024' }).warnings.join('\n'), /OUTBOX_MAX_BYTES is below MAX_BODY_BYTES/)
})

t.test('demo mode (no tenant) has an outbox in a temporary directory of its own', async t => {
  const a = loadConfig({})
  const b = loadConfig({})
  t.equal(a.demo, true)
  t.equal(a.outbox?.temporary, true, 'removed when the gateway stops')
  t.ok(a.outbox?.dir.startsWith(tmpdir()), 'under the temporary directory')
  t.not(a.outbox?.dir, b.outbox?.dir, 'two demo gateways never share one')
  t.equal(a.outbox?.concurrency, 2)
  t.equal(loadConfig({ OUTBOX_DIR: '/data/outbox' }).outbox?.temporary, undefined, 'an OUTBOX_DIR given in demo mode is kept')
})
