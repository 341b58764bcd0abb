// Caller API keys: what a key may look like, and how keys are read from the environment.
// Keys are bearer tokens (RFC 6750 b64token), long enough not to be guessed.
import { sha256 } from './digest.js'

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
 * Checks each key's shape: characters a bearer token cannot carry are an error; a short key is
 * a warning (demos use short ones; production keys should be long and random). Messages name
 * the key's position, never the key.
 */
export function checkKeys (keys: string[], source: string, problems: string[], warnings: string[]): void {
  keys.forEach((key, i) => {
    if (!KEY.test(key)) problems.push(`${source}: key #${i + 1} has characters a bearer token cannot have (allowed: letters, digits, - . _ ~ + /)`)
    else if (key.length < API_KEY_MIN_LENGTH) warnings.push(`${source}: key #${i + 1} is shorter than ${API_KEY_MIN_LENGTH} characters and could be guessed; use e.g. \`openssl rand -hex 32\``)
  })
}

export function keyDigest (key: string): Buffer {
  return sha256(key)
}
