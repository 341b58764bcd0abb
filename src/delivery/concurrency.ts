/** A cap on uploads handled at once: past it, callers are refused instead of queued. */
export class ConcurrencyLimit {
  active = 0
  constructor (readonly max: number) {}

  tryAcquire (): boolean {
    if (this.active >= this.max) return false
    this.active++
    return true
  }

  release (): void {
    this.active--
  }
}
