// The process's own stdout: JSON lines when it is a pipe (containers, log shippers),
// pretty-printed only when it is a terminal.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import t from 'tap'
import { postDocument } from './helpers/http.js'
import { MAIN } from './helpers/process.js'

const ENV = { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', SHUTDOWN_DELAY_SECONDS: '0' }

/** Resolves with the accumulated output once `pattern` appears in it (bounded by a timeout). */
async function waitFor (read: () => string, pattern: RegExp, ms = 20_000): Promise<RegExpExecArray> {
  const until = Date.now() + ms
  for (;;) {
    const m = pattern.exec(read())
    if (m !== null) return m
    if (Date.now() > until) throw new Error(`no ${String(pattern)} in output:\n${read()}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** The built gateway (demo mode) with stdout a pipe; resolves once it listens. */
async function startWithPipe (t: { teardown: (fn: () => void) => void }): Promise<{ child: ChildProcess, output: () => string, exited: Promise<[number | null, string | null]>, address: string }> {
  const child = spawn(process.execPath, [MAIN], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  const output = (): string => out
  const address = (await waitFor(output, /"event":"start","address":"(http:[^"]+)"/))[1]!
  return { child, output, exited, address }
}

t.test('with stdout a pipe every line is JSON: start-up, login, folder resolution, delivery and shutdown', async t => {
  const { child, output, exited, address } = await startWithPipe(t)
  const res = await postDocument(address, 'po.edi', 'ISA~', { 'x-request-id': 'log-test-1' })
  t.equal(res.status, 201)
  child.kill('SIGTERM')
  t.equal((await exited)[0], 0)

  const raw = output().split('\n').filter(l => l !== '')
  const lines = raw.map(l => { try { return JSON.parse(l) as Record<string, unknown> } catch { return undefined } })
  t.equal(lines.filter(l => l === undefined).length, 0, 'no line is anything but JSON')
  for (const l of lines) {
    t.type(l?.level, 'number')
    t.type(l?.time, 'string')
    t.equal(l?.service, 'cic-gateway')
  }
  const event = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> | undefined =>
    lines.find(l => l?.event === name && Object.entries(extra).every(([k, v]) => l[k] === v))
  t.ok(event('start'), 'start-up line')
  t.ok(event('cic.login', { outcome: 'success', mailbox: 'default', requestId: 'log-test-1' }), 'login line with the triggering request id')
  t.ok(event('cic.folder', { folder: 'upload', requestId: 'log-test-1' }), 'folder resolution line')
  t.ok(event('document.delivered', { requestId: 'log-test-1', filename: 'po.edi' }), 'delivery line')
  t.ok(event('shutdown', { signal: 'SIGTERM' }), 'shutdown start line')
  t.ok(event('shutdown', { phase: 'draining' }))
  t.ok(event('shutdown', { phase: 'done' }), 'shutdown complete line')
})

t.test('with stdout a terminal the lines are pretty-printed', { skip: existsSync('/usr/bin/script') ? false : 'no script(1) to provide a terminal' }, async t => {
  // script(1) runs the gateway on a pseudo-terminal and copies what it prints.
  const child = spawn('/usr/bin/script', ['-qfec', `"${process.execPath}" "${MAIN}"`, '/dev/null'], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const kill = (signal: NodeJS.Signals): void => { try { process.kill(-child.pid!, signal) } catch {} }
  t.teardown(() => { kill('SIGKILL') })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  await waitFor(() => out, /cic-gateway listening/)
  // eslint-disable-next-line no-control-regex -- ANSI colour escapes start with ESC
  const plain = out.replace(/\u001b\[[0-9;]*m/g, '')
  t.match(plain, /INFO.*: cic-gateway listening/, 'level and message, human-readable')
  t.match(plain, /event: "start"/, 'fields on their own lines')
  t.notMatch(plain, /^\{"level"/m, 'no JSON line')
  const exited = once(child, 'exit')
  kill('SIGTERM')
  await exited
})

t.test('stdout is written in batches, yet a lone delivery line is out within a moment, and every line is out at exit', async t => {
  const { child, output, exited, address } = await startWithPipe(t)
  t.equal((await postDocument(address, 'lone.edi', 'ISA~')).status, 201)
  // One line is far below the 4 KiB batch: only the flush timer writes it (no more
  // traffic follows; without the timer it would wait in the buffer until exit).
  await waitFor(output, /"event":"document.delivered"[^\n]*"filename":"lone.edi"/)
  t.pass('the lone delivery line reached stdout while the gateway kept running')
  // Lines logged just before exit are flushed on the way out, not lost with the buffer.
  for (let i = 0; i < 3; i++) t.equal((await postDocument(address, `last-${i}.edi`, 'ISA~')).status, 201)
  child.kill('SIGTERM')
  await exited
  for (let i = 0; i < 3; i++) t.match(output(), new RegExp(`"event":"document.delivered"[^\\n]*"filename":"last-${i}.edi"`), `last-${i}.edi logged`)
  t.match(output(), /"phase":"done"/, 'shutdown complete logged')
})
