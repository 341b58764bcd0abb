// The README's front door: every curl in it, run exactly as written (from the repository
// root, only the address swapped for the port this gateway got) against the gateway as
// `npm start` runs it on a fresh clone: demo mode, on the bundled simulator, no API key.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { spawnGateway } from './helpers/process.js'

const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)))
const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
const README_ADDRESS = 'http://localhost:8080'

/** The store-and-forward examples (202, then /deliveries): run block by block, as scripts (test below). */
const STORE_AND_FORWARD = /respond-async|\/deliveries/

/** Every curl command in the README's sh blocks, continuation lines joined as the shell does. */
function readmeCurls (): string[] {
  const commands: string[] = []
  for (const [, block] of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    if (STORE_AND_FORWARD.test(block!)) continue
    let current: string | undefined
    for (const line of block!.split('\n')) {
      if (current === undefined && !line.startsWith('curl ')) continue
      current = current === undefined ? line : `${current}\n${line}`
      if (!line.endsWith('\\')) { commands.push(current); current = undefined }
    }
  }
  return commands
}

function sh (command: string): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { cwd: repoRoot, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr })
    })
  })
}

const curls = readmeCurls()

t.test('the README has curl examples, and every @file they send is shipped in the repository', async t => {
  t.ok(curls.length >= 5, `found ${curls.length} curl commands`)
  for (const command of curls) {
    for (const [, path] of command.matchAll(/@([^\s'"]+)/g)) {
      t.doesNotThrow(() => readFileSync(join(repoRoot, path!)), `${path} exists (paths are relative to the repository root)`)
    }
  }
})

t.test('every curl in the README, as written, gets 201 and CIC receives the whole file', async t => {
  // Nothing configured, as on a fresh clone; only load shedding is off, so that a busy test
  // machine's event-loop delay cannot turn a README example into a 503.
  const gw = await spawnGateway({ SHUTDOWN_DELAY_SECONDS: '0', MAX_EVENT_LOOP_DELAY_MS: '0' })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  for (const command of curls) {
    t.ok(command.includes(README_ADDRESS), `the curl talks to ${README_ADDRESS}, where npm start listens`)
    const before = gw.lines.filter(l => l.event === 'document.delivered').length
    const res = await sh(command.replaceAll(README_ADDRESS, gw.url))
    t.equal(res.code, 0, `curl exits 0: ${command.split('\n')[0]!}`)
    t.equal(res.stderr, '', 'curl prints no error or warning')
    const body = JSON.parse(res.stdout) as Record<string, unknown>
    if (!t.equal(typeof body.name, 'string', 'the answer is CIC\'s file resource', { answer: body })) continue
    t.equal(body.length, 0, 'CIC\'s 201 says "length": 0, as the quick start explains')
    // The delivery log line is written just before the answer; wait for it to be read.
    while (gw.lines.filter(l => l.event === 'document.delivered').length === before) await once(gw.child.stdout!, 'data')
    const delivered = gw.lines.filter(l => l.event === 'document.delivered')[before]!
    t.equal(delivered.filename, body.name)
    const file = /@([^\s'"]+)/.exec(command)?.[1]
    if (file !== undefined) {
      const bytes = readFileSync(join(repoRoot, file))
      t.equal(delivered.bytes, bytes.length, `all ${bytes.length} bytes of ${file} were delivered`)
      t.equal(delivered.sha256, createHash('sha256').update(bytes).digest('base64'), `and they are ${file}'s bytes`)
    }
  }
  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
})

t.test('the store-and-forward examples, as written: 202 once the document is stored, then its status, and it reaches CIC', async t => {
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map(m => m[1]!).filter(b => STORE_AND_FORWARD.test(b))
  t.ok(blocks.length >= 2, 'an async submission and a listing')
  // As npm start runs it: demo mode, whose outbox is a temporary directory.
  const gw = await spawnGateway({ SHUTDOWN_DELAY_SECONDS: '0', MAX_EVENT_LOOP_DELAY_MS: '0' })
  t.teardown(() => { gw.child.kill('SIGKILL') })
  for (const block of blocks) {
    t.ok(block.includes(README_ADDRESS), `the example talks to ${README_ADDRESS}`)
    const res = await sh(block.replaceAll(README_ADDRESS, gw.url))
    t.equal(res.code, 0, `the block exits 0: ${block.split('\n')[0]!}`)
    t.equal(res.stderr, '', 'curl prints no error or warning')
    const outputs = res.stdout.trim().split('\n').map(line => JSON.parse(line) as Record<string, any>)
    if (!block.includes('respond-async')) {
      t.ok(outputs.length === 1 && Array.isArray(outputs[0]!.items), 'a page of deliveries')
      continue
    }
    const file = /@([^\s'")]+)/.exec(block)![1]!
    const bytes = readFileSync(join(repoRoot, file))
    const [accepted, status] = outputs
    t.match(accepted, { state: 'queued', mailbox: 'default', bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('base64') }, 'the 202 body: stored, with the document\'s size and SHA-256')
    t.equal(status?.id, accepted!.id, 'the status of that delivery')
    t.match(status?.state, /^(queued|delivering|delivered)$/)
    // Delivered by the gateway on its own (bounded wait, no timing assertion).
    let last = status!
    for (let i = 0; i < 200 && last.state !== 'delivered'; i++) {
      await new Promise(resolve => setTimeout(resolve, 50))
      last = JSON.parse((await sh(`curl -sS '${gw.url}/deliveries/${String(accepted!.id)}'`)).stdout) as Record<string, any>
    }
    t.equal(last.state, 'delivered', 'the outbox delivered it')
    t.equal(last.cic?.name, accepted!.filename, 'CIC\'s file resource')
    // The outbox's log line is written just after the state changes; wait for it to be read.
    const line = (): Record<string, unknown> | undefined => gw.lines.find(l => l.event === 'outbox.delivered' && l.id === accepted!.id)
    while (line() === undefined) await once(gw.child.stdout!, 'data')
    const delivered = line()
    t.equal(delivered?.bytes, bytes.length, `all ${bytes.length} bytes of ${file} were delivered`)
  }
  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
})
