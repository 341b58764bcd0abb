import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config/index.js'

const PROD = { NODE_ENV: 'production', CIC_USERNAME: 'u', CIC_PASSWORD: 'p4ssw0rd!', GATEWAY_API_KEYS: 'prod-key-0123456789abcdef' }

t.test('NODE_ENV=production refuses a plain-http CIC base URL: credentials never cross a network in clear text', async t => {
  t.throws(() => loadConfig({ ...PROD, CIC_BASE_URL: 'http://acme.cleointegration.com' }), /CIC_BASE_URL must be https:\/\/ when NODE_ENV=production/)
  t.throws(() => loadConfig({ ...PROD, CIC_BASE_URL: 'http://10.0.0.8:8081' }), /must be https/)
  t.ok(loadConfig({ ...PROD, CIC_BASE_URL: 'https://acme.cleointegration.com' }))
})

t.test('loopback hosts (a local simulator) may be plain http in production', async t => {
  for (const url of ['http://127.0.0.1:8081', 'http://localhost:8081', 'http://[::1]:8081', 'http://127.1.2.3']) {
    t.equal(loadConfig({ ...PROD, CIC_BASE_URL: url }).mailboxes[0]?.baseUrl, url, url)
  }
})

t.test('outside production plain http stays possible (demo, tests)', async t => {
  t.ok(loadConfig({ CIC_BASE_URL: 'http://cic.internal:8081', CIC_USERNAME: 'u', CIC_PASSWORD: 'p' }))
})

t.test('the rule holds for every mailbox of a config file, naming the mailbox', async t => {
  const d = await mkdtemp(join(tmpdir(), 'https-'))
  t.teardown(async () => { await rm(d, { recursive: true, force: true }) })
  await writeFile(join(d, 'g.yaml'), `mailboxes:
  ok: { baseUrl: https://a.example, username: a, password: x }
  local: { baseUrl: http://localhost:8081, username: b, password: y }
  cleartext: { baseUrl: http://a.example, username: c, password: z }
`)
  t.throws(() => loadConfig({ NODE_ENV: 'production', GATEWAY_AUTH: 'none', GATEWAY_CONFIG_FILE: join(d, 'g.yaml') }), /mailboxes\.cleartext\.baseUrl must be https:\/\//)
})
