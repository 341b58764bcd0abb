// A cap on uploads handled at once: past it, callers are refused instead of queued.
import { EventEmitter, once } from 'node:events'

export class ConcurrencyLimit {
  active = 0
  private readonly events = new EventEmitter()

  constructor (readonly max: number) {}

  tryAcquire (): boolean {
    if (this.active >= this.max) return false
    this.active++
    return true
  }

  release (): void {
    this.active--
    if (this.active === 0) this.events.emit('idle')
  }

  /** Resolves true once nothing is held (at once if nothing is), false after timeoutMs. */
  async idle (timeoutMs: number): Promise<boolean> {
    if (this.active === 0) return true
    const timeout = AbortSignal.timeout(timeoutMs)
    try {
      await once(this.events, 'idle', { signal: timeout })
      return true
    } catch {
      return this.active === 0
    }
  }
}
