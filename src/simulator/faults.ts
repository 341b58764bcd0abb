// Fault injection: queued faults per operation, plus optional random faults for soak runs.
import { OPERATIONS, type Fault, type Operation, type RandomFaults } from './options.js'

interface Queued {
  fault: Fault
  remaining: number
}

/** mulberry32: tiny, fast, good enough to make a soak run reproducible from a seed. */
function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// A realistic mix: mostly transient overload, some connection trouble, a few slow answers.
const RANDOM_MIX: readonly { weight: number, make: (random: () => number) => Fault }[] = [
  { weight: 3, make: () => ({ status: 503 }) },
  { weight: 2, make: () => ({ status: 429, headers: { 'Retry-After': '1' } }) },
  { weight: 1, make: () => ({ status: 500 }) },
  { weight: 1, make: () => ({ drop: 'immediately' }) },
  { weight: 1, make: () => ({ drop: 'mid-body' }) },
  { weight: 1, make: () => ({ drop: 'after-store' }) },
  { weight: 1, make: () => ({ truncate: true }) },
  { weight: 2, make: (random) => ({ delayMs: 100 + Math.floor(random() * 900) }) }
]
const RANDOM_WEIGHT = RANDOM_MIX.reduce((sum, entry) => sum + entry.weight, 0)

export class Faults {
  readonly #queues = new Map<Operation, Queued[]>(OPERATIONS.map((op) => [op, []]))
  #random: RandomFaults | undefined
  #rng: () => number = Math.random

  constructor (random?: RandomFaults) {
    this.setRandom(random)
  }

  /** Queues a (validated) fault for the next `fault.times` (default 1) calls of the operation. */
  inject (operation: Operation, fault: Fault): void {
    this.#queues.get(operation)!.push({ fault, remaining: fault.times ?? 1 })
  }

  clear (): void {
    for (const queue of this.#queues.values()) queue.length = 0
  }

  setRandom (random: RandomFaults | undefined): void {
    this.#random = random
    this.#rng = random?.seed === undefined ? Math.random : mulberry32(random.seed)
  }

  /** Restarts the random sequence from its seed. */
  reseed (): void {
    this.setRandom(this.#random)
  }

  /** The fault for the call that just arrived, if any. Injected faults win over random ones. */
  take (operation: Operation): Fault | undefined {
    const queue = this.#queues.get(operation)!
    const head = queue[0]
    if (head) {
      if (--head.remaining <= 0) queue.shift()
      return head.fault
    }
    return this.#randomFault(operation)
  }

  #randomFault (operation: Operation): Fault | undefined {
    const random = this.#random
    if (!random || random.rate <= 0) return undefined
    if (random.operations && !random.operations.includes(operation)) return undefined
    if (this.#rng() >= random.rate) return undefined
    let pick = this.#rng() * RANDOM_WEIGHT
    for (const entry of RANDOM_MIX) {
      pick -= entry.weight
      if (pick < 0) return entry.make(this.#rng)
    }
    return undefined
  }

  pending (): Record<Operation, Fault[]> {
    const result = {} as Record<Operation, Fault[]>
    for (const [op, queue] of this.#queues) {
      result[op] = queue.map((q) => ({ ...q.fault, times: q.remaining }))
    }
    return result
  }
}
