// Idempotency-Key (IETF draft "The Idempotency-Key HTTP Header Field"): a keyed request is
// delivered once. Records live in a bounded lru-cache in this process; with several
// replicas the store must be shared (see README).
import { LRUCache } from 'lru-cache'
import { badRequest } from './problems.js'

export type IdempotencyRecord =
  /** The first request with this key is still being delivered. */
  | { state: 'in-flight' }
  /** Delivered: the stored 201 is answered again for the same body. */
  | { state: 'delivered', sha256: Buffer, raw: Buffer, filename: string }
  /** The last attempt's outcome is unknown (CIC may hold the document): a retry reconciles first. */
  | { state: 'unknown', sha256: Buffer, filename: string }

export interface IdempotencyOptions {
  ttlMs: number
  maxKeys: number
}

// The draft makes the key an sf-string; we accept its printable-ASCII content, bounded.
const KEY = /^[\x21-\x7e]{1,255}$/

/** The key from the header (sf-string quotes optional), or undefined when absent. */
export function parseIdempotencyKey (header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined
  if (Array.isArray(header)) throw badRequest('idempotency-key-invalid', 'Invalid Idempotency-Key', 'send one Idempotency-Key header')
  const value = header.trim().replace(/^"(.*)"$/, '$1')
  if (!KEY.test(value)) throw badRequest('idempotency-key-invalid', 'Invalid Idempotency-Key', 'the Idempotency-Key must be 1 to 255 printable ASCII characters')
  return value
}

export class IdempotencyStore {
  private readonly records: LRUCache<string, IdempotencyRecord>

  constructor (opts: IdempotencyOptions) {
    this.records = new LRUCache<string, IdempotencyRecord>({ max: opts.maxKeys, ttl: opts.ttlMs })
  }

  get (scope: string): IdempotencyRecord | undefined {
    return this.records.get(scope)
  }

  set (scope: string, record: IdempotencyRecord): void {
    this.records.set(scope, record)
  }

  /**
   * After a claimed attempt failed. Outcome unknown: remember it, so a resend reconciles
   * first. Otherwise CIC does not hold it: free the key, or restore what it held before.
   */
  afterFailure (scope: string, previous: IdempotencyRecord | undefined, unknown: { sha256: Buffer, filename: string } | undefined): void {
    if (unknown !== undefined) this.records.set(scope, { state: 'unknown', ...unknown })
    else if (previous === undefined) this.records.delete(scope)
    else this.records.set(scope, previous)
  }

  get size (): number {
    return this.records.size
  }
}
