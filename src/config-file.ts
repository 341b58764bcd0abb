// GATEWAY_CONFIG_FILE: named CIC mailboxes and the callers allowed to use them, in YAML or
// JSON (YAML is a superset of JSON, so one parser reads both). Validated with Ajv, so every
// mistake is named at once; no value from the file ever appears in a message, because the
// file holds passwords and keys.
import { readFileSync } from 'node:fs'
import { Ajv, type ErrorObject } from 'ajv'
import { parse, YAMLError } from 'yaml'
import type { CallerConfig, MailboxConfig } from './config.js'
import { sha256 } from './digest.js'
import { API_KEY_MIN_LENGTH, API_KEY_PATTERN, MAILBOX_NAME_PATTERN } from './keys.js'
import { readSecretFile } from './secret-file.js'

export interface FileConfig {
  mailboxes: MailboxConfig[]
  callers: CallerConfig[]
  defaultMailbox: string | undefined
  /** Passwords and plain keys read from the file (for the log-scanning tests). */
  secrets: string[]
  warnings: string[]
}

const stringOrList = (item: object): object => ({ oneOf: [item, { type: 'array', items: item, minItems: 1 }] })

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['mailboxes'],
  properties: {
    defaultMailbox: { type: 'string', pattern: MAILBOX_NAME_PATTERN },
    mailboxes: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: MAILBOX_NAME_PATTERN },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['baseUrl', 'username'],
        properties: {
          baseUrl: { type: 'string', pattern: '^https?://[^/\\s]+/?$' },
          username: { type: 'string', minLength: 1 },
          password: { type: 'string', minLength: 1 },
          passwordFile: { type: 'string', minLength: 1 },
          uploadFolder: { type: 'string', minLength: 1 }
        },
        oneOf: [{ required: ['password'] }, { required: ['passwordFile'] }]
      }
    },
    callers: {
      type: 'object',
      propertyNames: { pattern: MAILBOX_NAME_PATTERN },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['mailboxes'],
        properties: {
          key: stringOrList({ type: 'string', minLength: 1, pattern: API_KEY_PATTERN }),
          keySha256: stringOrList({ type: 'string', pattern: '^[0-9a-fA-F]{64}$' }),
          mailboxes: { type: 'array', items: { type: 'string' }, minItems: 1, uniqueItems: true }
        },
        anyOf: [{ required: ['key'] }, { required: ['keySha256'] }]
      }
    }
  }
} as const

interface RawMailbox { baseUrl: string, username: string, password?: string, passwordFile?: string, uploadFolder?: string }
interface RawCaller { key?: string | string[], keySha256?: string | string[], mailboxes: string[] }
interface RawFile { defaultMailbox?: string, mailboxes: Record<string, RawMailbox>, callers?: Record<string, RawCaller> }

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false })
const validate = ajv.compile<RawFile>(schema)

/** Ajv's errors as `where: what`, naming keys, never values. */
function describe (errors: ErrorObject[]): string[] {
  const out = new Set<string>()
  for (const e of errors) {
    // oneOf/anyOf wrappers repeat what their branches said, in worse words.
    if (e.keyword === 'oneOf' || e.keyword === 'anyOf' || e.keyword === 'if') continue
    const where = e.instancePath === '' ? '(top level)' : e.instancePath.slice(1).replaceAll('/', '.')
    let what = e.message ?? 'is invalid'
    if (e.keyword === 'additionalProperties') what = `has an unknown property "${String(e.params.additionalProperty)}"`
    else if (e.keyword === 'required') what = `needs "${String(e.params.missingProperty)}"`
    else if (e.keyword === 'propertyNames') what = 'has a name that is not allowed (letters, digits, . _ -; up to 64 characters)'
    else if (e.keyword === 'pattern' && where.endsWith('baseUrl')) what = 'must be an http(s) origin like https://acme.cleointegration.com'
    else if (e.keyword === 'pattern' && /keySha256/.test(where)) what = 'must be 64 hexadecimal digits (the SHA-256 of the key)'
    else if (e.keyword === 'pattern' && /\bkey\b/.test(where)) what = 'must be a bearer token (letters, digits, - . _ ~ + /)'
    else if (e.keyword === 'pattern' && /^(callers|mailboxes)\.[^.]+$/.test(where)) what = 'has a name that is not allowed'
    else if (e.keyword === 'pattern') what = 'is not a valid mailbox name'
    out.add(`${where} ${what}`)
  }
  // A mailbox with both or neither password source only produces the oneOf error, which we skipped.
  for (const e of errors) {
    if (e.keyword === 'oneOf' && /^\/mailboxes\/[^/]+$/.test(e.instancePath)) {
      out.add(`${e.instancePath.slice(1).replaceAll('/', '.')} needs exactly one of "password" and "passwordFile"`)
    }
    if (e.keyword === 'anyOf' && /^\/callers\/[^/]+$/.test(e.instancePath)) {
      out.add(`${e.instancePath.slice(1).replaceAll('/', '.')} needs "key" or "keySha256"`)
    }
  }
  return [...out]
}

function list (value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}

/**
 * Reads and validates the file. Problems are pushed, prefixed with the variable's name;
 * undefined is returned when the file cannot be used at all.
 */
export function loadConfigFile (path: string, defaults: { uploadFolder: string }, problems: string[]): FileConfig | undefined {
  const prefix = `GATEWAY_CONFIG_FILE (${path})`
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    problems.push(`${prefix} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    return undefined
  }
  let data: unknown
  try {
    data = parse(text, { prettyErrors: false, uniqueKeys: true })
  } catch (err) {
    // The parser's own message quotes the offending line, which may hold a secret.
    if (err instanceof YAMLError) {
      const before = text.slice(0, err.pos[0])
      const line = before.split('\n').length
      const col = before.length - before.lastIndexOf('\n')
      problems.push(`${prefix} is not valid YAML or JSON at line ${line}, column ${col} (${err.code})`)
    } else {
      problems.push(`${prefix} is not valid YAML or JSON`)
    }
    return undefined
  }
  if (!validate(data)) {
    for (const p of describe(validate.errors ?? [])) problems.push(`${prefix}: ${p}`)
    return undefined
  }

  const before = problems.length
  const secrets: string[] = []
  const warnings: string[] = []
  const mailboxes: MailboxConfig[] = []
  for (const [name, m] of Object.entries(data.mailboxes)) {
    let password = m.password
    if (m.passwordFile !== undefined) {
      password = readSecretFile(m.passwordFile, `${prefix}: mailboxes.${name}.passwordFile`, problems)
    }
    if (password === undefined) continue
    secrets.push(password)
    mailboxes.push({
      name,
      baseUrl: m.baseUrl.replace(/\/$/, ''),
      username: m.username,
      password,
      passwordFile: m.passwordFile,
      uploadFolder: m.uploadFolder ?? defaults.uploadFolder
    })
  }

  const names = new Set(Object.keys(data.mailboxes))
  const callers: CallerConfig[] = []
  const owners = new Map<string, string>()
  for (const [name, c] of Object.entries(data.callers ?? {})) {
    for (const mailbox of c.mailboxes) {
      // The name is one the operator wrote in the mailbox list, not a secret.
      if (!names.has(mailbox)) problems.push(`${prefix}: callers.${name}.mailboxes names "${mailbox}", which is not a declared mailbox`)
    }
    const plain = list(c.key)
    secrets.push(...plain)
    plain.forEach((k, i) => { if (k.length < API_KEY_MIN_LENGTH) warnings.push(`${prefix}: callers.${name}.key${plain.length > 1 ? ` #${i + 1}` : ''} is shorter than ${API_KEY_MIN_LENGTH} characters and could be guessed; use e.g. \`openssl rand -hex 32\``) })
    const keyDigests = [...plain.map(sha256), ...list(c.keySha256).map(h => Buffer.from(h, 'hex'))]
    for (const digest of keyDigests) {
      const hex = digest.toString('hex')
      const other = owners.get(hex)
      if (other !== undefined && other !== name) problems.push(`${prefix}: callers.${name} and callers.${other} share a key: every caller needs its own`)
      owners.set(hex, name)
    }
    callers.push({ name, keyDigests, mailboxes: c.mailboxes })
  }

  let defaultMailbox = data.defaultMailbox
  if (defaultMailbox !== undefined && !names.has(defaultMailbox)) {
    problems.push(`${prefix}: defaultMailbox names "${defaultMailbox}", which is not a declared mailbox`)
  }
  // One mailbox needs no ceremony: it is the default.
  if (defaultMailbox === undefined && names.size === 1) defaultMailbox = [...names][0]
  if (problems.length > before) return undefined
  return { mailboxes, callers, defaultMailbox, secrets, warnings }
}
