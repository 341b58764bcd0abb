// Delivery status records shared by the replicas (issue 14, "Several replicas"): each
// gateway owns the documents on its own outbox volume, and with REDIS_URL it writes the
// status of each of them to a shared store, so GET /deliveries/{id} and GET /deliveries
// answer on any replica. The owner's disk stays the truth; the shared record is a copy that
// names its owner (the replica whose volume holds the body, the only one that can retry it).
import { randomUUID } from 'node:crypto'
import { readFile, rename } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { DeliveryFailure } from '../failure.js'
import { fsyncDir, writeFileSynced } from './fsync.js'
import type { DeliveryState, DeliveryStatus, ListOptions } from './types.js'

/** The replica that holds a delivery's body: its outbox volume's id, and the host it last ran on (for operators). */
export interface ReplicaOwner {
  id: string
  host: string
}

export interface SharedStatus {
  status: DeliveryStatus
  /** The owner's replica id. */
  owner: string
}

export interface StatusWrite {
  status: DeliveryStatus
  /** Larger for a later state of the same delivery: an older write never replaces a newer one. */
  version: number
  owner: ReplicaOwner
  /** For settled deliveries: how much longer the record is kept (the outbox's own keepSettledMs). Unset: kept as long as the owner holds it. */
  ttlMs?: number
}

export interface DeliveryStatusStore {
  /** Writes the status unless the stored one has the same or a later version; false then. Rejects when the store fails. */
  put: (write: StatusWrite) => Promise<boolean>
  /** The status of a delivery of this caller (another caller's: undefined, as for an unknown id). Throws StatusStoreUnavailableError. */
  get: (id: string, caller: string) => Promise<SharedStatus | undefined>
  /** The caller's deliveries in a state on every replica, oldest first, paged by id. Throws StatusStoreUnavailableError. */
  list: (caller: string, state: DeliveryState, opts: ListOptions) => Promise<{ items: DeliveryStatus[], next?: string }>
  /** The stored state of each id (undefined: no record), for a resync. Throws StatusStoreUnavailableError. */
  states: (ids: readonly string[]) => Promise<Array<DeliveryState | undefined>>
  /** False while the store is known to be unreachable (then nobody waits for it). */
  readonly available: boolean
}

/**
 * The shared status store cannot be reached: a delivery another replica holds cannot be
 * looked up now. A DeliveryFailure, so that an Idempotency-Key repeat of such a delivery is
 * answered 503 (`delivered: unknown`, resend later) by the document route like any delivery
 * outcome; the deliveries routes answer it with a problem of their own.
 */
export class StatusStoreUnavailableError extends DeliveryFailure {
  constructor (readonly reason: string) {
    super({ code: 'outbox-unavailable', detail: 'the shared delivery status store cannot be reached: a delivery accepted by another replica cannot be looked up now; resend after Retry-After', delivered: 'unknown', retryAfterSeconds: 5 })
    this.name = 'StatusStoreUnavailableError'
  }
}

/** The replica that holds a delivery did not take a retry request (stopped, restarting, unreachable). */
export class DeliveryOwnerUnavailableError extends Error {
  constructor (readonly owner: string, readonly reason: string) {
    super(`the replica holding the delivery did not answer (${reason})`)
    this.name = 'DeliveryOwnerUnavailableError'
  }
}

const OWNER_FILE = 'replica.json'
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * This replica's identity, kept in the outbox directory: the bodies live on that volume, so
 * the volume is what owns them. It survives restarts and a pod rescheduled with its volume
 * (a StatefulSet), and a new volume is a new owner.
 */
export async function replicaOwner (dir: string): Promise<ReplicaOwner> {
  const file = join(dir, OWNER_FILE)
  const host = hostname()
  try {
    const { id } = JSON.parse(await readFile(file, 'utf8')) as { id?: unknown }
    if (typeof id === 'string' && UUID.test(id)) return { id, host }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof SyntaxError)) throw err
  }
  const id = randomUUID()
  await writeFileSynced(`${file}.tmp`, JSON.stringify({ id, createdAt: new Date().toISOString(), host }) + '\n')
  await rename(`${file}.tmp`, file)
  await fsyncDir(dir)
  return { id, host }
}

/** The status as the shared store keeps it: the caller's Idempotency-Key text stays on the owner's disk. */
export function sharedCopy (status: DeliveryStatus): DeliveryStatus {
  const { idempotencyKey: _key, ...rest } = status
  return rest
}
