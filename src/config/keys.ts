// Caller API keys: what a key may look like, how keys are read, and the checks every key gets
// wherever it was configured (GATEWAY_API_KEYS or GATEWAY_CONFIG_FILE). Keys are bearer tokens
// (RFC 6750 b64token), long enough not to be guessed. Messages name a key's place, never the key.
import { sha256 } from './key-digest.js'
import type { Findings } from './findings.js'

export const API_KEY_MIN_LENGTH = 16
export const API_KEY_PATTERN = '^[A-Za-z0-9._~+/-]+=*$'
/** Mailbox and caller names: used in URLs, logs and metrics labels. */
export const MAILBOX_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'

const KEY = new RegExp(API_KEY_PATTERN)

/** Splits a GATEWAY_API_KEYS value or key file (commas, whitespace or newlines; `#` comments in files). */
export function splitKeys (text: string): string[] {
  return text
    .split('\n')
    .map(line => line.replace(/#.*$/, ''))
    .flatMap(line => line.split(/[,\s]+/))
    .filter(k => k !== '')
}

/**
 * Each key's shape: characters a bearer token cannot carry are a problem; a short key is a
 * warning (demos use short ones; production keys should be long and random). `place(i)` says
 * where the i-th key was configured.
 */
export function checkKeys (keys: string[], place: (index: number) => string, found: Findings): void {
  keys.forEach((key, i) => {
    if (!KEY.test(key)) found.problem(`${place(i)} has characters a bearer token cannot have (allowed: letters, digits, - . _ ~ + /)`)
    else if (key.length < API_KEY_MIN_LENGTH) found.warn(`${place(i)} is shorter than ${API_KEY_MIN_LENGTH} characters and could be guessed; use e.g. \`openssl rand -hex 32\``)
  })
}

export function keyDigest (key: string): Buffer {
  return sha256(key)
}

/** Callers that share a key, as [the caller that had it first, the one that has it again]. */
export function sharedKeys (callers: ReadonlyArray<{ name: string, keyDigests: Buffer[] }>): Array<[first: string, again: string]> {
  const owners = new Map<string, string>()
  const shared: Array<[string, string]> = []
  for (const c of callers) {
    for (const digest of c.keyDigests) {
      const hex = digest.toString('hex')
      const other = owners.get(hex)
      if (other !== undefined && other !== c.name) shared.push([other, c.name])
      owners.set(hex, c.name)
    }
  }
  return shared
}
