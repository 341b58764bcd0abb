import t from 'tap'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { postDocument } from './helpers/http.js'
import { startStack, type Stack } from './helpers/stack.js'

/** Sends the headers and part of the body, then hangs up. */
async function abortMidUpload (stack: Stack, name: string, headers: string, partial: Buffer): Promise<void> {
  const { port } = new URL(stack.url)
  const socket = connect(Number(port), '127.0.0.1')
  await new Promise(resolve => socket.once('connect', resolve))
  socket.write(`POST /documents?filename=${name} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n${headers}\r\n`)
  socket.write(partial)
  await sleep(300)
  socket.destroy()
}

async function until (what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await check()) return
    await sleep(25)
  }
  throw new Error(`timed out waiting for: ${what}`)
}

function sockets (): number {
  return process.getActiveResourcesInfo().filter(r => r === 'TCPSocketWrap').length
}

function timers (): number {
  return process.getActiveResourcesInfo().filter(r => r === 'Timeout').length
}

t.test('a caller hanging up mid-upload aborts the streamed upload to CIC: nothing stored, nothing reported delivered, nothing leaks', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '1024' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  await sleep(100)
  const baseline = sockets()
  const baselineTimers = timers()
  for (let i = 0; i < 10; i++) {
    await abortMidUpload(stack, `gone-${i}.edi`, 'Content-Length: 67108864\r\n', Buffer.alloc(1024 * 1024, 1))
  }
  await until('every aborted upload is logged as failed', () => stack.logs().filter(l => l.event === 'document.failed').length === 10)
  const failed = stack.logs().filter(l => l.event === 'document.failed')
  t.ok(failed.every(l => l.callerGone === true), 'logged as the caller going away')
  t.notOk(stack.logs().some(l => l.event === 'document.delivered' && String(l.filename).startsWith('gone-')), 'never reported delivered')
  t.equal(stack.sim.files().filter(f => f.name.startsWith('gone-')).length, 0, 'CIC stored nothing')
  t.equal(stack.sim.calls.upload, 11, 'the uploads had started streaming to CIC')
  t.equal(stack.gateway.uploads.active, 0, 'upload slots released')
  await until('sockets back to the baseline', () => sockets() <= baseline + 2)
  t.pass(`sockets: ${sockets()} (baseline ${baseline})`)
  await until('timers back to the baseline', () => timers() <= baselineTimers + 2)
  t.pass(`timers: ${timers()} (baseline ${baselineTimers})`)
  t.equal((await postDocument(stack.url, 'after.edi', 'still works')).status, 201, 'the gateway keeps delivering')
})

t.test('a caller hanging up mid-chunked-upload leaves no spool file and never reaches CIC', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '1024' } })
  const chunk = Buffer.alloc(100 * 1024, 2)
  await abortMidUpload(stack, 'chunked-gone.edi', 'Transfer-Encoding: chunked\r\n', Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]))
  await until('the failure is logged', () => stack.logs().some(l => l.event === 'document.failed'))
  t.same(await stack.spoolFiles(), [], 'spool file removed')
  t.equal(stack.gateway.spool.bytesInUse, 0)
  t.equal(stack.sim.calls.upload, 0)
})
