import t from 'tap'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../src/config/index.js'

t.test('every bad variable is named in one error, and no secret value is printed', async t => {
  const err = (() => {
    try {
      loadConfig({ CIC_BASE_URL: 'ftp://nope', CIC_USERNAME: 'u', CIC_PASSWORD: 'Sup3r$ecret!', PORT: 'eighty', MAX_BODY_BYTES: '-1', LOG_LEVEL: 'loud' })
    } catch (e) { return e }
  })()
  t.ok(err instanceof ConfigError)
  const msg = (err as Error).message
  for (const name of ['CIC_BASE_URL', 'PORT', 'MAX_BODY_BYTES', 'LOG_LEVEL']) t.match(msg, name, `names ${name}`)
  t.notMatch(msg, /Sup3r/)
})

t.test('credentials without a base URL, or a base URL without credentials, are refused', async t => {
  t.throws(() => loadConfig({ CIC_USERNAME: 'u', CIC_PASSWORD: 'p' }), /CIC_BASE_URL is required/)
  t.throws(() => loadConfig({ CIC_BASE_URL: 'https://x.cleointegration.com' }), /CIC_USERNAME.*\n.*CIC_PASSWORD/s)
})

t.test('*_FILE variables read mounted secrets, trailing newline removed', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'cfg-'))
  await writeFile(join(dir, 'pw'), 'Fr0m@File&+%\n')
  await writeFile(join(dir, 'user'), 'fileuser')
  const c = loadConfig({ CIC_BASE_URL: 'https://acme.cleointegration.com/', CIC_USERNAME_FILE: join(dir, 'user'), CIC_PASSWORD_FILE: join(dir, 'pw') })
  t.equal(c.mailboxes[0]?.password, 'Fr0m@File&+%')
  t.equal(c.mailboxes[0]?.username, 'fileuser')
  t.equal(c.mailboxes[0]?.baseUrl, 'https://acme.cleointegration.com')
  t.throws(() => loadConfig({ CIC_BASE_URL: 'https://a.b', CIC_USERNAME: 'u', CIC_PASSWORD_FILE: join(dir, 'missing') }), /CIC_PASSWORD_FILE .* cannot be read: ENOENT/)
  t.throws(() => loadConfig({ CIC_BASE_URL: 'https://a.b', CIC_USERNAME: 'u', CIC_PASSWORD: 'x', CIC_PASSWORD_FILE: join(dir, 'pw') }), /both set/)
})

t.test('defaults, and demo mode when no tenant is configured', async t => {
  const c = loadConfig({})
  t.equal(c.demo, true)
  t.equal(c.port, 8080)
  t.equal(c.host, '0.0.0.0')
  t.equal(c.maxBodyBytes, 1024 ** 3)
  t.equal(c.mailboxes.length, 0)
})

t.test('NODE_ENV=production never falls back to the simulator', async t => {
  t.throws(() => loadConfig({ NODE_ENV: 'production' }), /CIC_BASE_URL is required when NODE_ENV=production/)
})
