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

/** Every curl command in the README's sh blocks, continuation lines joined as the shell does. */
function readmeCurls (): string[] {
  const commands: string[] = []
  for (const [, block] of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
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
  return new Promise((resolvePromise) => {
    execFile('sh', ['-c', command], { cwd: repoRoot, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolvePromise({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr })
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
