// The caller hanging up, as the cancellation signal of its delivery. An AbortController
// costs 8-11 µs per request on Node 20 (the AbortSignal, an EventTarget, and its listener
// bookkeeping: micro-benchmark in docs/benchmarks.md), and nearly every request ends
// without one being needed; this is a flag and a list of listeners, and the abort reason
// is made only when the caller does hang up. It has the shape of an AbortSignal that CIC
// calls read (aborted, reason, abort listeners), nothing more.
export class HangUp {
  aborted = false
  reason: Error | undefined = undefined
  private listeners: Array<() => void> | undefined

  /** The caller is gone: every listener runs once, later ones at once. */
  abort (): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = new DOMException('the caller hung up', 'AbortError')
    const listeners = this.listeners
    this.listeners = undefined
    if (listeners !== undefined) for (const l of listeners) l()
  }

  addEventListener (_type: 'abort', listener: () => void, _options?: { once?: boolean }): void {
    if (this.aborted) return
    (this.listeners ??= []).push(listener)
  }

  removeEventListener (_type: 'abort', listener: () => void): void {
    const i = this.listeners?.indexOf(listener) ?? -1
    if (i !== -1) this.listeners!.splice(i, 1)
  }
}
