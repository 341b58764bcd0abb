// Where Idempotency-Key records live. The state machine (idempotency.ts) decides; a store
// only has to make each step atomic for one key. Two implementations: this process's
// memory (the default), and Redis for several replicas.
import { LRUCache } from 'lru-cache'

/** What a settled attempt leaves behind: enough to answer or to reconcile a repeat. */
export interface Attempt {
  /** SHA-256 over mailbox, filename and body (base64): any difference is another request. */
  fingerprint: string
  filename: string
  /** SHA-256 of the body alone (base64), for Repr-Digest. */
  sha256: string
}

export type IdempotencyRecord =
  /**
   * Claimed by `owner`, lease running. `attempt` is set once the body is read and the upload
   * may start: if the lease lapses with it set, the outcome is unknown, not free.
   */
  | { state: 'in-flight', owner: string, attempt?: Attempt }
  /** CIC answered 201: `raw` (base64) is answered again for the same fingerprint. */
  | { state: 'delivered', attempt: Attempt, raw: string }
  /** The last attempt's outcome is unknown (CIC may hold it): the next repeat reconciles first. */
  | { state: 'unknown', attempt: Attempt }
  /** Accepted into the outbox (store and forward): a repeat is answered with that delivery. */
  | { state: 'accepted', attempt: Attempt, deliveryId: string }

export type SettledRecord = Exclude<IdempotencyRecord, { state: 'in-flight' }>

/** A record a repeat is answered from, never claimed again. */
export type AnsweredRecord = Extract<IdempotencyRecord, { state: 'delivered' | 'accepted' }>

export type ClaimResult =
  /** The key is now ours. `previous`: an earlier attempt whose outcome is unknown, to reconcile. */
  | { outcome: 'claimed', previous?: Attempt }
  /** Another request holds the key right now. */
  | { outcome: 'in-use' }
  /** Settled before (delivered, or accepted into the outbox): answer that (after comparing fingerprints). */
  | { outcome: 'delivered', record: AnsweredRecord }
  /** No room for another key: refuse (safe to resend) rather than drop a record. */
  | { outcome: 'full' }

export interface IdempotencyStore {
  /**
   * Atomically: a free key, or one whose last outcome is unknown (or whose owner's lease
   * lapsed), becomes in-flight for `owner`; any other state is reported, not changed.
   */
  claim: (scope: string, owner: string, leaseMs: number) => Promise<ClaimResult>
  /** Still ours: extend the lease, and record the attempt about to be sent. False: lost it. */
  renew: (scope: string, owner: string, leaseMs: number, attempt?: Attempt) => Promise<boolean>
  /**
   * Compare-and-set on the owner: replace our claim with `record`, or free the key when
   * undefined. An owner whose lease lapsed and was taken over changes nothing (false).
   */
  settle: (scope: string, owner: string, record: SettledRecord | undefined) => Promise<boolean>
  close: () => Promise<void>
}

export interface MemoryStoreOptions {
  ttlMs: number
  maxKeys: number
  maxBytes: number
}

/** A rough byte size of one record, for the bound (the key, the filename and CIC's 201 dominate). */
function recordBytes (scope: string, record: IdempotencyRecord): number {
  return 2 * scope.length + 128 + (record.state === 'in-flight' ? 0 : 2 * record.attempt.filename.length + 128) + (record.state === 'delivered' ? record.raw.length : 0)
}

/** Room held for each claim until it settles: most CIC 201 bodies are well under this. */
const CLAIM_RESERVE_BYTES = 4096

/**
 * This process only. Never evicts: a full store refuses new keys, so no record (in-flight,
 * unknown or delivered) is dropped before its TTL. In-flight claims do not lapse here:
 * their owner lives exactly as long as the store.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly settled: LRUCache<string, SettledRecord>
  private readonly inFlight = new Map<string, Extract<IdempotencyRecord, { state: 'in-flight' }>>()
  private settledBytes = 0

  constructor (private readonly opts: MemoryStoreOptions) {
    this.settled = new LRUCache<string, SettledRecord>({
      ttl: opts.ttlMs,
      ttlAutopurge: true,
      // Kept in step on every removal (expiry, replacement, delete): the byte bound below reads it.
      dispose: (record, scope) => { this.settledBytes -= recordBytes(scope, record) }
    })
  }

  async claim (scope: string, owner: string): Promise<ClaimResult> {
    if (this.inFlight.has(scope)) return { outcome: 'in-use' }
    const record = this.settled.get(scope)
    if (record?.state === 'delivered' || record?.state === 'accepted') return { outcome: 'delivered', record }
    if (record === undefined && !this.hasRoom()) return { outcome: 'full' }
    this.inFlight.set(scope, { state: 'in-flight', owner })
    return record === undefined ? { outcome: 'claimed' } : { outcome: 'claimed', previous: record.attempt }
  }

  async renew (scope: string, owner: string, _leaseMs: number, attempt?: Attempt): Promise<boolean> {
    const claim = this.inFlight.get(scope)
    if (claim?.owner !== owner) return false
    if (attempt !== undefined) claim.attempt = attempt
    return true
  }

  async settle (scope: string, owner: string, record: SettledRecord | undefined): Promise<boolean> {
    if (this.inFlight.get(scope)?.owner !== owner) return false
    this.inFlight.delete(scope)
    if (record === undefined) {
      this.settled.delete(scope)
    } else {
      this.settled.set(scope, record)
      this.settledBytes += recordBytes(scope, record)
    }
    return true
  }

  async close (): Promise<void> {
    this.settled.clear()
    this.inFlight.clear()
  }

  /** Keys held now, settled or in flight. */
  get keys (): number {
    let n = this.settled.size
    for (const scope of this.inFlight.keys()) if (!this.settled.has(scope)) n++
    return n
  }

  /** Bytes held by settled records plus the reserve of every open claim. */
  get bytes (): number {
    return this.settledBytes + this.inFlight.size * CLAIM_RESERVE_BYTES
  }

  private hasRoom (): boolean {
    return this.keys < this.opts.maxKeys && this.bytes + CLAIM_RESERVE_BYTES <= this.opts.maxBytes
  }
}
