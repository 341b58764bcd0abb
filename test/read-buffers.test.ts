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
