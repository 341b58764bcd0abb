// The memory bound of streamed bodies: every RELEASE_EVERY_BYTES that pass through, a
// minor collection frees the socket read buffers already relayed (src/delivery/read-buffers.ts).
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { RELEASE_EVERY_BYTES, streamed } from '../src/delivery/read-buffers.js'

async function minorCollectionsDuring (work: () => void): Promise<number> {
  const entries: PerformanceEntry[] = []
  const observer = new PerformanceObserver(list => { entries.push(...list.getEntries()) })
  observer.observe({ entryTypes: ['gc'] })
  work()
  await sleep(200)
  observer.disconnect()
  return entries.filter(e => ((e as { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MINOR).length
}

t.test('a minor collection runs once per RELEASE_EVERY_BYTES streamed, not per chunk', async t => {
  const chunk = 64 * 1024
  const chunks = 3 * RELEASE_EVERY_BYTES / chunk
  const collections = await minorCollectionsDuring(() => { for (let i = 0; i < chunks; i++) streamed(chunk) })
  // Three thresholds crossed, nothing allocated in between: exactly the three nudges (a
  // stray collection from the test runner itself is tolerated, hundreds are not).
  t.ok(collections >= 3 && collections <= 4, `minor collections: ${collections}`)
})

t.test('small amounts do not trigger a collection', async t => {
  const collections = await minorCollectionsDuring(() => { for (let i = 0; i < 10; i++) streamed(1024) })
  t.ok(collections <= 1, `minor collections: ${collections}`)
})

t.test('the buffers of bytes already relayed are freed when the threshold is crossed, not at V8\'s external-memory limit', async t => {
  // 16 MiB of 64 KiB buffers outside the JavaScript heap, relayed and dropped, as the socket
  // reads of a streamed body are: far below the ~64 MiB at which V8 would collect by itself.
  const size = 64 * 1024
  const count = 256
  const before = process.memoryUsage().arrayBuffers
  const relay = (): number => {
    const chunks = Array.from({ length: count }, () => Buffer.allocUnsafeSlow(size))
    return chunks.length > 0 ? process.memoryUsage().arrayBuffers : 0
  }
  const held = relay()
  t.ok(held - before >= count * size, 'the buffers are held')
  // The bytes counted once they are gone (counted while held, a collection would find them
  // alive and keep them); crossing the threshold collects, the backing stores are swept a
  // moment later.
  for (let i = 0; i < 8; i++) streamed(RELEASE_EVERY_BYTES / 8)
  let now = process.memoryUsage().arrayBuffers
  for (let i = 0; i < 100 && held - now < count * size * 3 / 4; i++) {
    await sleep(20)
    now = process.memoryUsage().arrayBuffers
  }
  t.ok(held - now >= count * size * 3 / 4, `freed ${((held - now) / 2 ** 20).toFixed(1)} of ${(count * size / 2 ** 20).toFixed(0)} MiB`)
})
