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

t.test('REDIS_URL unset: no shared store (config.redis is undefined)', async t => {
  t.equal(loadConfig({}).redis, undefined)
  // Redis settings without REDIS_URL do nothing: start-up says so (the password is not printed).
  const c = loadConfig({ REDIS_PASSWORD: 'R3dis$ecret!', REDIS_KEY_PREFIX: 'acme:' })
  t.equal(c.redis, undefined)
  t.match(c.warnings.join('\n'), /REDIS_PASSWORD is set but REDIS_URL is not/)
  t.notMatch(c.warnings.join('\n'), /R3dis/)
})

t.test('REDIS_URL, REDIS_PASSWORD and REDIS_KEY_PREFIX make config.redis; the password is a secret', async t => {
  const c = loadConfig({ REDIS_URL: 'redis://cache.internal:6379/2', REDIS_PASSWORD: 'R3dis$ecret!' })
  t.same(c.redis, { url: 'redis://cache.internal:6379/2', password: 'R3dis$ecret!', keyPrefix: 'cic-gateway:' })
  t.ok(c.secrets.includes('R3dis$ecret!'), 'known to the log scan')
  t.same(loadConfig({ REDIS_URL: 'rediss://gateway@cache.internal', REDIS_KEY_PREFIX: 'acme-prod:' }).redis, { url: 'rediss://gateway@cache.internal', keyPrefix: 'acme-prod:' })
  // A password written into the URL is a secret too.
  t.ok(loadConfig({ REDIS_URL: 'redis://:In%40Url$ecret@cache.internal' }).secrets.includes('In@Url$ecret'))
})

t.test('REDIS_PASSWORD_FILE is read once, like the other secret files; never both', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'cfg-redis-'))
  await writeFile(join(dir, 'redis-pw'), 'Fr0m@File&Redis\n')
  const c = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_PASSWORD_FILE: join(dir, 'redis-pw') })
  t.equal(c.redis?.password, 'Fr0m@File&Redis', 'trailing newline dropped')
  t.ok(c.secrets.includes('Fr0m@File&Redis'))
  t.throws(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1', REDIS_PASSWORD: 'x', REDIS_PASSWORD_FILE: join(dir, 'redis-pw') }), /REDIS_PASSWORD and REDIS_PASSWORD_FILE are both set/)
  t.throws(() => loadConfig({ REDIS_URL: 'redis://127.0.0.1', REDIS_PASSWORD_FILE: join(dir, 'missing') }), /REDIS_PASSWORD_FILE .* cannot be read: ENOENT/)
})

t.test('REDIS_URL must be redis:// or rediss://, and is never printed', async t => {
  const msg = (env: Record<string, string>): string => {
    try { loadConfig(env) } catch (e) { return (e as Error).message }
    return ''
  }
  t.match(msg({ REDIS_URL: 'http://:Sup3rRedis@cache:6379' }), /REDIS_URL must start with redis:\/\/ or rediss:\/\//)
  t.notMatch(msg({ REDIS_URL: 'http://:Sup3rRedis@cache:6379' }), /Sup3r/)
  t.match(msg({ REDIS_URL: 'cache.internal:6379' }), /REDIS_URL/)
  t.match(msg({ REDIS_URL: 'redis://cache/zero' }), /REDIS_URL: the path must be a database number/)
  t.match(msg({ REDIS_URL: 'redis://x', REDIS_KEY_PREFIX: 'has space' }), /REDIS_KEY_PREFIX/)
})

t.test('REDIS_CA_FILE: PEM text read for rediss://, refused with plain redis://', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'cfg-redis-ca-'))
  const pem = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n'
  await writeFile(join(dir, 'ca.pem'), pem)
  await writeFile(join(dir, 'not.pem'), 'hello')
  t.equal(loadConfig({ REDIS_URL: 'rediss://cache.internal:6380', REDIS_CA_FILE: join(dir, 'ca.pem') }).redis?.ca, pem.replace(/\n$/, ''))
  t.throws(() => loadConfig({ REDIS_URL: 'redis://cache.internal', REDIS_CA_FILE: join(dir, 'ca.pem') }), /REDIS_CA_FILE is set but REDIS_URL is redis:\/\/: a CA is used only with rediss:\/\//)
  t.throws(() => loadConfig({ REDIS_URL: 'rediss://cache.internal', REDIS_CA_FILE: join(dir, 'not.pem') }), /REDIS_CA_FILE \(.*not\.pem\) holds no PEM certificate/)
})
