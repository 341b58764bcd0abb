// Keeps the memory a streamed body costs flat. Node gives every socket read a new buffer
// (64 KiB) outside the JavaScript heap; V8 frees one only when a garbage collection finds
// it unreferenced, and while the young generation has room that happens only after V8's
// external-memory threshold (~64 MiB) has been allocated: relaying a large body grew the
// RSS by 55-70 MiB. A minor collection (a scavenge, well under a millisecond with nothing
// live to copy) after every RELEASE_EVERY_BYTES streamed frees the chunks already sent.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export const RELEASE_EVERY_BYTES = 8 * 1024 * 1024

type Collect = (options: { type: 'minor' }) => void

/** V8's gc(), reachable without starting Node with --expose-gc (the flag applies to new contexts). */
function minorCollector (): Collect | undefined {
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    return typeof gc === 'function' ? gc as Collect : undefined
  } catch {
    return undefined
  }
}

const collect = minorCollector()
let sinceRelease = 0

/** Counts bytes that have passed through; every RELEASE_EVERY_BYTES, frees the read buffers behind them. */
export function streamed (bytes: number): void {
  sinceRelease += bytes
  if (sinceRelease < RELEASE_EVERY_BYTES) return
  sinceRelease = 0
  collect?.({ type: 'minor' })
}
