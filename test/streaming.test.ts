import t from 'tap'
import { Readable } from 'node:stream'
import { postDocument } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

const MiB = 1024 * 1024

t.test('a 256 MiB upload streams: CIC gets bytes before the caller finishes, and RSS stays flat', async t => {
  const stack = await startStack(t, { sim: { keepBodies: false } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  const total = 256 * MiB
  const chunk = Buffer.alloc(256 * 1024, 'e')
  let sent = 0
  let callerFinishedAt = 0
  const source = new Readable({
    read () {
      if (sent >= total) {
        callerFinishedAt = Date.now()
        this.push(null)
        return
      }
      sent += chunk.length
      this.push(chunk)
    }
  })
  global.gc?.()
  const baseline = process.memoryUsage().rss
  let peak = baseline
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 20)
  const res = await postDocument(stack.url, 'big.edi', source, { 'content-length': String(total) })
  clearInterval(sampler)
  t.equal(res.status, 201)
  const stored = stack.sim.files().find(f => f.name === 'big.edi')
  t.equal(stored?.size, total, 'CIC received every byte')
  t.ok(stored !== undefined && stored.firstByteAt < callerFinishedAt, `CIC received the first byte ${callerFinishedAt - (stored?.firstByteAt ?? 0)} ms before the caller finished`)
  const growth = (peak - baseline) / MiB
  // Caller, gateway and simulator share this process: all three together stay far below the body size.
  t.ok(growth < 64, `RSS grew by ${growth.toFixed(1)} MiB while relaying 256 MiB`)
  t.equal(res.headers['repr-digest'], `sha-256=:${Buffer.from(stored!.sha256, 'hex').toString('base64')}:`, 'digest of the streamed bytes returned')
})
