import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { postDocument } from './helpers/http.js'
import { startStack } from './helpers/stack.js'
import { DEMO_PASSWORD, DEMO_USERNAME } from '../src/simulator/index.js'

t.test('a rotated CIC password in the mounted file is used at the next login, without a restart', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'rotate-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'password')
  await writeFile(file, `${DEMO_PASSWORD}\n`)
  const rotated = 'R0tated@Passw0rd&+%'
  const stack = await startStack(t, { env: { CIC_PASSWORD: '', CIC_PASSWORD_FILE: file }, secrets: [rotated] })
  t.equal((await postDocument(stack.url, 'before.edi', 'x')).status, 201)

  // The operator's rotation: new password into the Secret, then into CIC. Tokens expire later.
  await writeFile(file, `${rotated}\n`)
  stack.sim.setPassword(DEMO_USERNAME, rotated)
  stack.sim.revokeAllTokens()
  t.equal((await postDocument(stack.url, 'after.edi', 'x')).status, 201, 'the next login reads the new password')
  t.equal(stack.sim.calls.login, 2)

  // A secret being rewritten (empty file) or briefly missing keeps the last password read.
  await writeFile(file, '')
  stack.sim.revokeAllTokens()
  t.equal((await postDocument(stack.url, 'during-write.edi', 'x')).status, 201)
  await rm(file)
  stack.sim.revokeAllTokens()
  t.equal((await postDocument(stack.url, 'missing.edi', 'x')).status, 201)
  t.ok(stack.logs().some(l => l.event === 'cic.password-file' && l.code === 'ENOENT'), 'a missing file is logged (without any value)')
  t.same(stack.sim.files().map(f => f.name), ['before.edi', 'after.edi', 'during-write.edi', 'missing.edi'])
})

t.test('a password file that becomes wrong fails the login as 502, and recovers when fixed', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'rotate-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'password')
  await writeFile(file, DEMO_PASSWORD)
  const stack = await startStack(t, { env: { CIC_PASSWORD: '', CIC_PASSWORD_FILE: file }, secrets: ['Wr0ng@Passw0rd!!'] })
  await writeFile(file, 'Wr0ng@Passw0rd!!')
  const res = await postDocument(stack.url, 'x.edi', 'x')
  t.equal(res.status, 502)
  t.equal(res.json().type, 'urn:cic-gateway:problem:cic-login-failed')
  await writeFile(file, DEMO_PASSWORD)
  t.equal((await postDocument(stack.url, 'y.edi', 'x')).status, 201, 'fixed without a restart')
})
