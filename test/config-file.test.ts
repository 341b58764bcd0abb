import t from 'tap'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../src/config/index.js'

const SECRET = 'Sup3r$ecretValue&+%'
const KEY = 'caller-key-1234567890abcdef'

async function dir (t: { teardown: (fn: () => unknown) => void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'cfgfile-'))
  t.teardown(async () => { await rm(d, { recursive: true, force: true }) })
  return d
}

function problemsOf (fn: () => unknown): string {
  try { fn() } catch (err) {
    if (err instanceof ConfigError) return err.message
    throw err
  }
  throw new Error('expected a ConfigError')
}

t.test('the issue\'s shape loads: mailboxes, password files, key hashes, callers, default', async t => {
  const d = await dir(t)
  await writeFile(join(d, 'alpha'), 'Alpha@Secret&+%\n')
  const file = join(d, 'gateway.yaml')
  await writeFile(file, `
defaultMailbox: alpha            # optional; POST /documents goes here
mailboxes:
  alpha: { baseUrl: https://acme.cleointegration.com, username: alpha_app, passwordFile: ${join(d, 'alpha')}, uploadFolder: upload }
  beta:  { baseUrl: https://acme.cleointegration.com/, username: beta_app, password: "${SECRET}" }
callers:
  erp: { keySha256: "${createHash('sha256').update(KEY).digest('hex')}", mailboxes: [alpha] }
  wms: { key: "${KEY}x", mailboxes: [alpha, beta] }
`)
  const c = loadConfig({ GATEWAY_CONFIG_FILE: file, NODE_ENV: 'production' })
  t.equal(c.defaultMailbox, 'alpha')
  t.same(c.mailboxes.map(m => [m.name, m.baseUrl, m.username, m.uploadFolder]), [
    ['alpha', 'https://acme.cleointegration.com', 'alpha_app', 'upload'],
    ['beta', 'https://acme.cleointegration.com', 'beta_app', 'upload']
  ])
  t.equal(c.mailboxes[0]?.password, 'Alpha@Secret&+%', 'password file read, newline dropped')
  t.equal(c.mailboxes[0]?.passwordFile, join(d, 'alpha'), 'and remembered, to be read again at each login')
  t.equal(c.auth.mode, 'api-key')
  t.same(c.auth.callers.map(x => [x.name, x.mailboxes]), [['erp', ['alpha']], ['wms', ['alpha', 'beta']]])
  t.ok(c.secrets.includes(SECRET) && c.secrets.includes(`${KEY}x`) && c.secrets.includes('Alpha@Secret&+%'), 'every secret is known to the log scan')
})

t.test('every mistake in the file is named in one error, and no secret value is printed', async t => {
  const d = await dir(t)
  const file = join(d, 'bad.yaml')
  await writeFile(file, `
defaultMailbox: omega
mailboxes:
  alpha: { baseUrl: ftp://x, username: a, password: "${SECRET}", passwordFile: /nope }
  beta:  { baseUrl: https://x.example, password: "${SECRET}", uploadFoldr: up }
  "bad name!": { baseUrl: https://x.example, username: b, password: "${SECRET}" }
  gamma: { baseUrl: https://x.example, username: g }
callers:
  erp: { keySha256: "not-hex", mailboxes: [alpha] }
  wms: { key: "bad key!", mailboxes: [alpha] }
  crm: { mailboxes: [alpha] }
`)
  const msg = problemsOf(() => loadConfig({ GATEWAY_CONFIG_FILE: file }))
  for (const expected of [
    /mailboxes\.alpha\.baseUrl must be an http\(s\) origin/,
    /mailboxes\.alpha needs exactly one of "password" and "passwordFile"/,
    /mailboxes\.beta needs "username"/,
    /mailboxes\.beta has an unknown property "uploadFoldr"/,
    /mailboxes has a name that is not allowed/,
    /mailboxes\.gamma needs exactly one of "password" and "passwordFile"/,
    /callers\.erp\.keySha256 must be 64 hexadecimal digits/,
    /callers\.wms\.key must be a bearer token/,
    /callers\.crm needs "key" or "keySha256"/
  ]) t.match(msg, expected)
  t.match(msg, /^invalid configuration:/)
  t.notMatch(msg, /Sup3r/, 'no password')
  t.notMatch(msg, /bad key/, 'no key')
})

t.test('references are checked: callers and defaultMailbox must name declared mailboxes; keys are not shared', async t => {
  const d = await dir(t)
  const file = join(d, 'refs.json')
  await writeFile(file, JSON.stringify({
    defaultMailbox: 'omega',
    mailboxes: { alpha: { baseUrl: 'https://a.example', username: 'a', password: SECRET } },
    callers: { erp: { key: KEY, mailboxes: ['alpha', 'beta'] }, crm: { key: KEY, mailboxes: ['alpha'] } }
  }))
  const msg = problemsOf(() => loadConfig({ GATEWAY_CONFIG_FILE: file }))
  t.match(msg, /callers\.erp\.mailboxes names "beta", which is not a declared mailbox/)
  t.match(msg, /defaultMailbox names "omega", which is not a declared mailbox/)
  t.match(msg, /callers\.crm and callers\.erp share a key/)
  t.notMatch(msg, KEY)
})

t.test('a file that is not YAML is reported by position, without quoting the line', async t => {
  const d = await dir(t)
  const file = join(d, 'broken.yaml')
  await writeFile(file, `mailboxes:\n  alpha: { baseUrl: https://a.example, password: "${SECRET}"\n   username: [\n`)
  const msg = problemsOf(() => loadConfig({ GATEWAY_CONFIG_FILE: file }))
  t.match(msg, /GATEWAY_CONFIG_FILE \(.*broken\.yaml\) is not valid YAML or JSON at line \d+, column \d+/)
  t.notMatch(msg, /Sup3r/)
  t.match(problemsOf(() => loadConfig({ GATEWAY_CONFIG_FILE: join(d, 'missing.yaml') })), /cannot be read: ENOENT/)
  await writeFile(join(d, 'dup.yaml'), 'mailboxes: {}\nmailboxes: {}\n')
  t.match(problemsOf(() => loadConfig({ GATEWAY_CONFIG_FILE: join(d, 'dup.yaml') })), /not valid YAML or JSON/, 'duplicate keys are an error, not a silent override')
})

t.test('a config file and CIC_* mailbox variables together are refused', async t => {
  const d = await dir(t)
  const file = join(d, 'g.yaml')
  await writeFile(file, 'mailboxes:\n  a: { baseUrl: https://a.example, username: a, password: x }\n')
  t.match(problemsOf(() => loadConfig({ GATEWAY_CONFIG_FILE: file, CIC_BASE_URL: 'https://b.example', CIC_USERNAME: 'u', CIC_PASSWORD: 'p' })), /GATEWAY_CONFIG_FILE declares the mailboxes: unset CIC_BASE_URL/)
})

t.test('API keys from the environment: shape checked, never printed', async t => {
  const msg = problemsOf(() => loadConfig({ GATEWAY_API_KEYS: 'tiny,ok-key-0123456789abcdef,bad"key;0123456789abc,ok-key-0123456789abcdef' }))
  t.match(msg, /key #3 has characters a bearer token cannot have/)
  t.match(msg, /the same API key is configured for api-key-2 and api-key-4/)
  t.notMatch(msg, /tiny|ok-key/)
  t.match(problemsOf(() => loadConfig({ GATEWAY_AUTH: 'api-key' })), /no API key is configured/, 'GATEWAY_AUTH=api-key insists on keys outside production too')
  // Short keys work (demos use them) but start-up warns.
  const short = loadConfig({ GATEWAY_API_KEYS: 'demo-key' })
  t.equal(short.auth.mode, 'api-key')
  t.match(short.warnings.join('\n'), /GATEWAY_API_KEYS: key #1 is shorter than 16 characters and could be guessed/)
  t.notMatch(short.warnings.join('\n'), /demo-key/)
  t.match(problemsOf(() => loadConfig({ GATEWAY_AUTH: 'sometimes' })), /GATEWAY_AUTH must be equal to one of the allowed values/)
})
