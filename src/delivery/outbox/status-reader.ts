// What the deliveries routes read with REDIS_URL: this replica's outbox for its own
// deliveries (always fresh, and still answering while Redis is down), the shared status
// store for the others' (Outbox.get asks it for an id the outbox does not hold), the shared
// store for lists (so every replica lists the same), and the owner, over the relay, for a
// retry of a delivery held by another replica.
import type { Outbox } from './index.js'
import type { StatusPublisher } from './status-publisher.js'
import type { RetryRelay } from './status-relay.js'
import type { DeliveryStatusStore } from './status-store.js'
import type { DeliveryState, DeliveryStatus, ListOptions } from './types.js'

/** How long a list waits for this replica's own writes in flight (read your writes on the replica that made them). */
const OWN_WRITES_WAIT_MS = 500

export interface SharedDeliveriesOptions {
  outbox: Outbox
  store: DeliveryStatusStore
  publisher: StatusPublisher
  relay: RetryRelay
  /** This replica's id. */
  self: string
}

export class SharedDeliveries {
  readonly spansReplicas = true

  constructor (private readonly opts: SharedDeliveriesOptions) {}

  /** This replica's delivery, else another's from the shared store. Throws StatusStoreUnavailableError when only the store could answer and cannot. */
  async get (id: string, caller: string): Promise<DeliveryStatus | undefined> {
    return await this.opts.outbox.get(id, caller)
  }

  /** The caller's deliveries in a state on every replica. Throws StatusStoreUnavailableError. */
  async list (caller: string, state: DeliveryState, opts: ListOptions): Promise<{ items: DeliveryStatus[], next?: string }> {
    await this.opts.publisher.flushed(OWN_WRITES_WAIT_MS)
    return await this.opts.store.list(caller, state, opts)
  }

  /**
   * Here when this replica holds it; else asked of its owner. Throws
   * DeliveryOwnerUnavailableError when the owner does not answer, StatusStoreUnavailableError
   * when the shared store cannot be reached.
   */
  async retry (id: string, caller: string): Promise<DeliveryStatus | undefined> {
    const local = await this.opts.outbox.retry(id, caller)
    if (local !== undefined) return local
    const shared = await this.opts.store.get(id, caller)
    // Ours by the record, but no longer in our outbox (pruned): nothing to retry.
    if (shared === undefined || shared.owner === this.opts.self) return undefined
    return await this.opts.relay.retry(shared.owner, id, caller)
  }
}
