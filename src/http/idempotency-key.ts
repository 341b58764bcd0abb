// The Idempotency-Key header (IETF draft): an sf-string; we accept its printable-ASCII content, bounded.
import { refusal } from './problems.js'

const KEY = /^[\x21-\x7e]{1,255}$/

/** The key from the header (sf-string quotes optional), or undefined when absent. */
export function parseIdempotencyKey (header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined
  if (Array.isArray(header)) throw refusal('idempotency-key-invalid', 'send one Idempotency-Key header')
  const value = header.trim().replace(/^"(.*)"$/, '$1')
  if (!KEY.test(value)) throw refusal('idempotency-key-invalid', 'the Idempotency-Key must be 1 to 255 printable ASCII characters')
  return value
}
