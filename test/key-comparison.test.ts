import t from 'tap'
import * as crypto from 'node:crypto'
import type { AuthConfig } from '../src/config/index.js'

// Keys are compared as SHA-256 digests (equal length whatever the key) with timingSafeEqual,
// against every configured digest, so the time taken says nothing about which key, if any, matched.
t.test('every configured digest is compared with crypto.timingSafeEqual, whichever key matches', async t => {
  const calls: Array<[number, number]> = []
  const { Access } = await t.mockImport<typeof import('../src/http/access.js')>('../src/http/access.js', {
    'node:crypto': { ...crypto, timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => { calls.push([a.byteLength, b.byteLength]); return crypto.timingSafeEqual(a, b) } }
  })
  const digest = (k: string): Buffer => crypto.createHash('sha256').update(k).digest()
  const auth: AuthConfig = {
    mode: 'api-key',
    callers: [
      { name: 'erp', keyDigests: [digest('erp-key-0123456789abcdef')], mailboxes: ['alpha'] },
      { name: 'wms', keyDigests: [digest('wms-key-0123456789abcdef'), digest('wms-next-0123456789abcdef')], mailboxes: '*' }
    ]
  }
  const access = new Access(auth)
  for (const [presented, expected] of [
    ['Bearer erp-key-0123456789abcdef', 'erp'],
    ['Bearer wms-next-0123456789abcdef', 'wms'],
    ['Bearer x', undefined],
    [`Bearer ${'y'.repeat(5000)}`, undefined]
  ] as const) {
    calls.length = 0
    t.equal(access.identify(presented)?.name, expected, presented.slice(0, 20))
    t.equal(calls.length, 3, 'all three digests compared, not only up to the match')
    t.ok(calls.every(([a, b]) => a === 32 && b === 32), 'digests of equal length, whatever the key\'s length')
  }
  calls.length = 0
  t.equal(access.identify(undefined), undefined)
  t.equal(access.identify('Basic abc'), undefined)
})
