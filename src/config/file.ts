// GATEWAY_CONFIG_FILE: named CIC mailboxes and the callers allowed to use them, in YAML or
// JSON (YAML is a superset of JSON, so one parser reads both). Validated with Ajv, so every
// mistake is named at once; no value from the file ever appears in a message, because the
// file holds passwords and keys.
import { readFileSync } from 'node:fs'
import { Ajv, type ErrorObject } from 'ajv'
import { Type, type Static, type TSchema } from 'typebox'
import { parse, YAMLError } from 'yaml'
import type { Findings } from './findings.js'
import { API_KEY_PATTERN, checkKeys, keyDigest, MAILBOX_NAME_PATTERN, sharedKeys } from './keys.js'
import { readSecretFile } from './secrets.js'
import type { CallerConfig, MailboxConfig } from './types.js'

export interface FileConfig {
  mailboxes: MailboxConfig[]
  callers: CallerConfig[]
  defaultMailbox: string | undefined
}

const nonEmpty = Type.String({ minLength: 1 })
const oneOrMore = <T extends TSchema>(item: T) => Type.Union([item, Type.Array(item, { minItems: 1 })])
/** An object of named entries (mailboxes, callers); names checked like mailbox names. */
const named = <T extends TSchema>(entry: T, options: { minProperties?: number } = {}) =>
  Type.Record(Type.String(), entry, { propertyNames: { pattern: MAILBOX_NAME_PATTERN }, ...options })

const FileMailbox = Type.Object({
  baseUrl: Type.String({ pattern: '^https?://[^/\\s]+/?$' }),
  username: nonEmpty,
  password: Type.Optional(nonEmpty),
  passwordFile: Type.Optional(nonEmpty),
  uploadFolder: Type.Optional(nonEmpty)
}, { additionalProperties: false, oneOf: [{ required: ['password'] }, { required: ['passwordFile'] }] })

const FileCaller = Type.Object({
  key: Type.Optional(oneOrMore(Type.String({ minLength: 1, pattern: API_KEY_PATTERN }))),
  keySha256: Type.Optional(oneOrMore(Type.String({ pattern: '^[0-9a-fA-F]{64}$' }))),
  mailboxes: Type.Array(Type.String(), { minItems: 1, uniqueItems: true })
}, { additionalProperties: false, anyOf: [{ required: ['key'] }, { required: ['keySha256'] }] })

export const FileSchema = Type.Object({
  defaultMailbox: Type.Optional(Type.String({ pattern: MAILBOX_NAME_PATTERN })),
  mailboxes: named(FileMailbox, { minProperties: 1 }),
  callers: Type.Optional(named(FileCaller))
}, { additionalProperties: false })

type FileValues = Static<typeof FileSchema>
type FileCallerValues = Static<typeof FileCaller>

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false })
const validate = ajv.compile<FileValues>(FileSchema)

/** What an Ajv error says about a key, in the operator's words. */
function what (e: ErrorObject, where: string): string {
  if (e.keyword === 'additionalProperties') return `has an unknown property "${String(e.params.additionalProperty)}"`
  if (e.keyword === 'required') return `needs "${String(e.params.missingProperty)}"`
  if (e.keyword === 'propertyNames') return 'has a name that is not allowed (letters, digits, . _ -; up to 64 characters)'
  if (e.keyword !== 'pattern') return e.message ?? 'is invalid'
  if (where.endsWith('baseUrl')) return 'must be an http(s) origin like https://acme.cleointegration.com'
  if (/keySha256/.test(where)) return 'must be 64 hexadecimal digits (the SHA-256 of the key)'
  if (/\bkey\b/.test(where)) return 'must be a bearer token (letters, digits, - . _ ~ + /)'
  if (/^(callers|mailboxes)\.[^.]+$/.test(where)) return 'has a name that is not allowed'
  return 'is not a valid mailbox name'
}

/** Ajv's errors as `where: what`, naming keys, never values. */
function describe (errors: ErrorObject[]): string[] {
  const out = new Set<string>()
  const at = (e: ErrorObject): string => e.instancePath === '' ? '(top level)' : e.instancePath.slice(1).replaceAll('/', '.')
  // oneOf/anyOf wrappers repeat what their branches said, in worse words.
  for (const e of errors) if (e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'if') out.add(`${at(e)} ${what(e, at(e))}`)
  // A mailbox with both or neither password source, or a caller without a key, only fails its object's oneOf/anyOf.
  for (const e of errors) {
    if (e.keyword === 'oneOf' && /^\/mailboxes\/[^/]+$/.test(e.instancePath)) out.add(`${at(e)} needs exactly one of "password" and "passwordFile"`)
    if (e.keyword === 'anyOf' && /^\/callers\/[^/]+$/.test(e.instancePath)) out.add(`${at(e)} needs "key" or "keySha256"`)
  }
  return [...out]
}

function list (value: string | string[] | undefined): string[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}

/** The file's text, parsed; undefined (and a problem) when it cannot be read or parsed. */
function readFile (path: string, prefix: string, found: Findings): unknown {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    found.problem(`${prefix} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    return undefined
  }
  try {
    return parse(text, { prettyErrors: false, uniqueKeys: true })
  } catch (err) {
    // The parser's own message quotes the offending line, which may hold a secret.
    if (!(err instanceof YAMLError)) {
      found.problem(`${prefix} is not valid YAML or JSON`)
      return undefined
    }
    const before = text.slice(0, err.pos[0])
    const col = before.length - before.lastIndexOf('\n')
    found.problem(`${prefix} is not valid YAML or JSON at line ${before.split('\n').length}, column ${col} (${err.code})`)
    return undefined
  }
}

function mailboxesOf (data: FileValues, prefix: string, uploadFolder: string, found: Findings): MailboxConfig[] {
  const mailboxes: MailboxConfig[] = []
  for (const [name, m] of Object.entries(data.mailboxes)) {
    const password = m.passwordFile === undefined ? m.password : readSecretFile(m.passwordFile, `${prefix}: mailboxes.${name}.passwordFile`, found)
    if (password === undefined) continue
    found.secret(password)
    const { baseUrl, username, passwordFile } = m
    mailboxes.push({ name, baseUrl: baseUrl.replace(/\/$/, ''), username, password, passwordFile, uploadFolder: m.uploadFolder ?? uploadFolder })
  }
  return mailboxes
}

function callerOf (name: string, c: FileCallerValues, prefix: string, mailboxNames: Set<string>, found: Findings): CallerConfig {
  for (const mailbox of c.mailboxes) {
    // The name is one the operator wrote in the mailbox list, not a secret.
    if (!mailboxNames.has(mailbox)) found.problem(`${prefix}: callers.${name}.mailboxes names "${mailbox}", which is not a declared mailbox`)
  }
  const plain = list(c.key)
  found.secret(...plain)
  checkKeys(plain, i => `${prefix}: callers.${name}.key${plain.length > 1 ? ` #${i + 1}` : ''}`, found)
  const keyDigests = [...plain.map(keyDigest), ...list(c.keySha256).map(h => Buffer.from(h, 'hex'))]
  return { name, keyDigests, mailboxes: c.mailboxes }
}

function defaultMailboxOf (data: FileValues, prefix: string, mailboxNames: Set<string>, found: Findings): string | undefined {
  const name = data.defaultMailbox
  if (name !== undefined && !mailboxNames.has(name)) found.problem(`${prefix}: defaultMailbox names "${name}", which is not a declared mailbox`)
  // One mailbox needs no ceremony: it is the default.
  return name ?? (mailboxNames.size === 1 ? [...mailboxNames][0] : undefined)
}

/** Reads and validates the file; undefined when it cannot be used (the problems say why). */
export function loadConfigFile (path: string, defaults: { uploadFolder: string }, found: Findings): FileConfig | undefined {
  const prefix = `GATEWAY_CONFIG_FILE (${path})`
  const data = readFile(path, prefix, found)
  if (data === undefined) return undefined
  if (!validate(data)) {
    for (const p of describe(validate.errors ?? [])) found.problem(`${prefix}: ${p}`)
    return undefined
  }
  const before = found.problems.length
  const names = new Set(Object.keys(data.mailboxes))
  const mailboxes = mailboxesOf(data, prefix, defaults.uploadFolder, found)
  const callers = Object.entries(data.callers ?? {}).map(([name, c]) => callerOf(name, c, prefix, names, found))
  for (const [first, again] of sharedKeys(callers)) found.problem(`${prefix}: callers.${again} and callers.${first} share a key: every caller needs its own`)
  const defaultMailbox = defaultMailboxOf(data, prefix, names, found)
  return found.problems.length > before ? undefined : { mailboxes, callers, defaultMailbox }
}
