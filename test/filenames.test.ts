import t, { type Test } from 'tap'
import { multipart, send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

const BAD: Array<[string, string]> = [
  ['empty', ''],
  ['dot', '.'],
  ['dot-dot', '..'],
  ['slash', 'a/b.edi'],
  ['traversal', '../../etc/passwd'],
  ['backslash', 'a\\b.edi'],
  ['CR LF', 'a\r\nX-Injected: 1.edi'],
  ['NUL', 'a\u0000b.edi'],
  ['tab', 'a\tb.edi'],
  ['DEL', 'a\u007fb.edi'],
  ['over 255 bytes', `${'é'.repeat(128)}.edi`]
]

t.test('each bad filename is refused with 400 on every path, and nothing reaches CIC', async t => {
  const stack = await startStack(t)
  for (const [label, name] of BAD) {
    const q = await send(`${stack.url}/documents?filename=${encodeURIComponent(name)}`, { body: 'x' })
    t.equal(q.status, 400, `query: ${label}`)
    t.match(q.headers['content-type'], /^application\/problem\+json/)
    t.match(q.json().type, /filename-(missing|invalid)$/, `query: ${label} problem type`)

    const star = await send(`${stack.url}/documents`, { body: 'x', headers: { 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(name)}` } })
    t.equal(star.status, 400, `filename*: ${label}`)

    // eslint-disable-next-line no-control-regex -- names with control characters cannot travel in a header
    if (!/[\r\n\u0000\t\u007f]/.test(name) && name !== '') {
      const plain = await send(`${stack.url}/documents`, { body: 'x', headers: { 'content-disposition': `attachment; filename="${name.replace(/\\/g, '\\\\')}"` } })
      t.equal(plain.status, 400, `filename=: ${label}`)
    }

    // eslint-disable-next-line no-control-regex -- names with control characters cannot travel in a header
    if (name !== '' && !/[\r\n\u0000]/.test(name)) {
      const mp = await send(`${stack.url}/documents`, multipart([{ name: 'file', value: 'x', filename: name }]))
      t.equal(mp.status, 400, `multipart: ${label}`)
    }
  }
  const none = await send(`${stack.url}/documents`, { body: 'x' })
  t.equal(none.status, 400, 'no filename at all')
  t.equal(none.json().type, 'urn:cic-gateway:problem:filename-missing')
  t.equal(stack.sim.calls.upload, 0, 'CIC never saw an upload')
})

t.test('a problem body does not reflect the bad filename', async t => {
  const stack = await startStack(t)
  const res = await send(`${stack.url}/documents?filename=${encodeURIComponent('<img src=x>/x')}`, { body: 'x' })
  t.equal(res.status, 400)
  t.notMatch(res.text, /<img/)
})

t.test('a name of exactly 255 bytes is accepted', async t => {
  const stack = await startStack(t)
  const name = `${'a'.repeat(251)}.edi`
  const res = await send(`${stack.url}/documents?filename=${name}`, { body: 'x' })
  t.equal(res.status, 201)
})

// ---- The rules beyond ASCII (issue 11, point 9) ----

const STAR = (charset: string, encoded: string): Record<string, string> => ({ 'content-disposition': `attachment; filename*=${charset}''${encoded}` })
const pct = (bytes: number[]): string => bytes.map(b => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')

/** A multipart body whose file part's Content-Disposition is given as raw bytes (invalid UTF-8 included). */
function rawMultipart (disposition: Buffer): { body: Buffer, headers: Record<string, string> } {
  const boundary = '----cic-gateway-raw-part'
  return {
    body: Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: `), disposition,
      Buffer.from(`\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n--${boundary}--\r\n`)
    ]),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }
  }
}

interface Refusal { label: string, url: string, opts: Parameters<typeof send>[1] }

/** The same name on every path: ?filename=, filename*=UTF-8'', a multipart part filename (raw UTF-8), and ?filename= on multipart. */
function everyPath (label: string, name: string): Refusal[] {
  const q = encodeURIComponent(name)
  return [
    { label: `${label} in ?filename=`, url: `/documents?filename=${q}`, opts: { body: 'x' } },
    { label: `${label} in filename*=UTF-8''`, url: '/documents', opts: { body: 'x', headers: STAR('UTF-8', q) } },
    { label: `${label} in a multipart part filename`, url: '/documents', opts: multipart([{ name: 'file', value: 'x', filename: name }]) },
    { label: `${label} in ?filename= over multipart`, url: `/documents?filename=${q}`, opts: multipart([{ name: 'file', value: 'x', filename: 'fine.edi' }]) }
  ]
}

/** Each refusal is 400 filename-invalid problem+json whose detail names `rule`, reflects none of `name`, and CIC got nothing. */
async function assertRefused (t: Test, cases: Refusal[], rule: RegExp, offending: string[]): Promise<void> {
  const stack = await startStack(t)
  for (const c of cases) {
    const res = await send(`${stack.url}${c.url}`, c.opts)
    t.equal(res.status, 400, `${c.label}: 400`)
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${c.label}: problem+json`)
    const problem = res.json()
    t.equal(problem.type, 'urn:cic-gateway:problem:filename-invalid', `${c.label}: filename-invalid`)
    t.match(problem.detail, rule, `${c.label}: the detail names the rule`)
    for (const s of offending) t.notOk(res.text.includes(s) || res.text.includes(JSON.stringify(s).slice(1, -1)), `${c.label}: the body does not reflect the name`)
  }
  t.equal(stack.sim.calls.upload, 0, 'CIC never saw an upload')
  t.same(stack.sim.files(), [], 'CIC stored nothing')
}

t.test('control characters in a filename* of any charset are refused, not turned into "?"', async t => {
  const cases: Refusal[] = []
  for (const [label, bytes] of [['CR LF', [0x0d, 0x0a]], ['NUL', [0x00]], ['ESC', [0x1b]], ['DEL', [0x7f]], ['C1 NEL', [0x85]], ['C1 CSI', [0x9b]]] as Array<[string, number[]]>) {
    const encoded = `iso_${pct(bytes)}X-Injected%3A%201${pct(bytes)}.edi`
    cases.push({ label: `${label} in filename*=ISO-8859-1''`, url: '/documents', opts: { body: 'x', headers: STAR('ISO-8859-1', encoded) } })
    cases.push({ label: `${label} in filename*=iso-8859-1'de'`, url: '/documents', opts: { body: 'x', headers: { 'content-disposition': `attachment; filename="fallback.edi"; filename*=iso-8859-1'de'${encoded}` } } })
    // In UTF-8 a C1 control is two bytes (U+0085 is C2 85).
    const utf8 = Buffer.from(String.fromCharCode(...bytes), 'utf8')
    cases.push({ label: `${label} in filename*=UTF-8''`, url: '/documents', opts: { body: 'x', headers: STAR('UTF-8', `utf_${pct([...utf8])}.edi`) } })
  }
  await assertRefused(t, cases, /contains a control character/, ['X-Injected'])
})

t.test('invalid UTF-8 is refused in ?filename=, filename*=UTF-8\'\' and a multipart part filename', async t => {
  const BAD_UTF8: Array<[string, number[]]> = [
    ['overlong "/" (C0 AF)', [0xc0, 0xaf]],
    ['a lone continuation byte', [0x80]],
    ['0xFF', [0xff]],
    ['a truncated sequence', [0xe2, 0x82]],
    ['an encoded surrogate (ED A0 80)', [0xed, 0xa0, 0x80]]
  ]
  const cases: Refusal[] = []
  for (const [label, bytes] of BAD_UTF8) {
    const name = `bad_${pct(bytes)}.edi`
    cases.push({ label: `${label} in ?filename=`, url: `/documents?filename=${name}`, opts: { body: 'x' } })
    cases.push({ label: `${label} in ?filename= over multipart`, url: `/documents?filename=${name}`, opts: multipart([{ name: 'file', value: 'x', filename: 'fine.edi' }]) })
    cases.push({ label: `${label} in filename*=UTF-8''`, url: '/documents', opts: { body: 'x', headers: STAR('UTF-8', name) } })
    cases.push({ label: `${label} as raw bytes in a multipart part filename`, url: '/documents', opts: rawMultipart(Buffer.concat([Buffer.from('form-data; name="file"; filename="bad_'), Buffer.from(bytes), Buffer.from('.edi"')])) })
    cases.push({ label: `${label} in a multipart part filename*=UTF-8''`, url: '/documents', opts: rawMultipart(Buffer.from(`form-data; name="file"; filename*=UTF-8''${name}`)) })
  }
  // A caller that sends U+FFFD itself gets the same answer: it is the mark of a failed decoding.
  cases.push(...everyPath('U+FFFD', 'bad_\ufffd.edi'))
  await assertRefused(t, cases, /is not valid UTF-8/, ['%C0', '%c0', 'bad_'])
})

t.test('bidirectional controls are refused on every path', async t => {
  const cases: Refusal[] = []
  // RLO turns "invoice_<RLO>fdp.exe" into what a listing shows as "invoice_exe.pdf".
  for (const [label, c] of [['RLO U+202E', '\u202e'], ['LRO U+202D', '\u202d'], ['RLE U+202B', '\u202b'], ['PDF U+202C', '\u202c'], ['RLI U+2067', '\u2067'], ['FSI U+2068', '\u2068'], ['PDI U+2069', '\u2069'], ['RLM U+200F', '\u200f'], ['LRM U+200E', '\u200e'], ['ALM U+061C', '\u061c']] as Array<[string, string]>) {
    cases.push(...everyPath(label, `invoice_${c}fdp.exe`))
  }
  await assertRefused(t, cases, /contains an invisible or bidirectional formatting character/, ['invoice_', 'fdp'])
})

t.test('zero-width and other invisible format characters are refused on every path', async t => {
  const cases: Refusal[] = []
  for (const [label, name] of [
    ['ZWSP U+200B', 'order\u200bQZ850.edi'],
    ['ZWNJ U+200C', 'order\u200cQZ850.edi'],
    ['ZWJ U+200D', 'order\u200dQZ850.edi'],
    ['word joiner U+2060', 'order\u2060QZ850.edi'],
    ['BOM U+FEFF at the start', '\ufefforderQZ850.edi'],
    ['BOM U+FEFF inside', 'order\ufeffQZ850.edi'],
    ['soft hyphen U+00AD', 'order\u00adQZ850.edi'],
    ['Mongolian vowel separator U+180E', 'order\u180eQZ850.edi'],
    ['invisible times U+2062', 'order\u2062QZ850.edi'],
    ['interlinear annotation U+FFF9', 'order\ufff9QZ850.edi'],
    ['tag character U+E0041', 'order\u{e0041}QZ850.edi'],
    ['Hangul filler U+3164', 'order\u3164QZ850.edi'],
    ['combining grapheme joiner U+034F', 'order\u034fQZ850.edi']
  ] as Array<[string, string]>) cases.push(...everyPath(label, name))
  await assertRefused(t, cases, /contains an invisible or bidirectional formatting character/, ['order', 'QZ850'])
})

t.test('characters that look like a path separator are refused on every path', async t => {
  const cases: Refusal[] = []
  for (const [label, name] of [
    ['fullwidth solidus U+FF0F', '..\uff0f..\uff0fetc\uff0fpasswd'],
    ['division slash U+2215', 'in\u2215out.edi'],
    ['fraction slash U+2044', 'in\u2044out.edi'],
    ['big solidus U+29F8', 'in\u29f8out.edi'],
    ['box-drawing diagonal U+2571', 'in\u2571out.edi'],
    ['mathematical rising diagonal U+27CB', 'in\u27cbout.edi'],
    ['combining long solidus overlay U+0338', 'in\u0338out.edi'],
    ['fullwidth reverse solidus U+FF3C', 'in\uff3cout.edi'],
    ['set minus U+2216', 'in\u2216out.edi'],
    ['small reverse solidus U+FE68', 'in\ufe68out.edi'],
    ['big reverse solidus U+29F9', 'in\u29f9out.edi'],
    ['account of U+2100 (NFKC "a/c")', 'in\u2100out.edi']
  ] as Array<[string, string]>) cases.push(...everyPath(label, name))
  await assertRefused(t, cases, /contains a character that looks like a path separator/, ['passwd', 'out.edi'])
})

t.test('names that normalize to "." or ".." are refused', async t => {
  const cases = [...everyPath('fullwidth dots', '\uff0e\uff0e'), ...everyPath('two dot leader U+2025', '\u2025')]
  await assertRefused(t, cases, /may not be "\." or "\.\."/, [])
})

t.test('ordinary non-ASCII names reach CIC byte for byte on every path', async t => {
  const stack = await startStack(t)
  const NAMES = [
    'Bestellung_München.json',
    'Bestellung_Mu\u0308nchen.json', // NFD: kept as sent, not normalized
    '注文書_2024年.edi',
    'Заказ №5.edi',
    'طلب_شراء.edi',
    'café ½ crème.txt',
    '❤️ order.edi' // an emoji variation selector only picks a glyph
  ]
  let n = 0
  for (const name of NAMES) {
    const paths: Array<[string, string, Parameters<typeof send>[1]]> = [
      ['?filename=', `/documents?filename=${encodeURIComponent(name)}`, { body: 'x' }],
      ["filename*=UTF-8''", '/documents', { body: 'x', headers: { 'content-disposition': `attachment; filename="fallback.edi"; filename*=UTF-8''${encodeURIComponent(name)}` } }],
      ['a multipart part filename', '/documents', multipart([{ name: 'file', value: 'x', filename: name }])]
    ]
    for (const [label, url, opts] of paths) {
      stack.sim.reset()
      const res = await send(`${stack.url}${url}`, opts)
      t.equal(res.status, 201, `${name} via ${label}: 201`)
      const stored = stack.sim.files()
      t.equal(stored.length, 1, `${name} via ${label}: one file in CIC`)
      t.same(Buffer.from(stored[0]?.name ?? '', 'utf8'), Buffer.from(name, 'utf8'), `${name} via ${label}: CIC's name is the same bytes`)
      n++
    }
  }
  t.equal(n, NAMES.length * 3)
  // ISO-8859-1 filename* decodes each byte to its character: "München" from its Latin-1 bytes.
  stack.sim.reset()
  const latin1 = await send(`${stack.url}/documents`, { body: 'x', headers: STAR('ISO-8859-1', 'Bestellung_M%FCnchen.json') })
  t.equal(latin1.status, 201)
  t.same(Buffer.from(stack.sim.files()[0]?.name ?? '', 'utf8'), Buffer.from('Bestellung_München.json', 'utf8'), 'ISO-8859-1 filename* arrives as the same characters')
})

t.test('a filename* in a charset other than UTF-8 or ISO-8859-1 is refused, and nothing reaches CIC', async t => {
  const stack = await startStack(t)
  for (const charset of ['UTF-16', 'windows-1252', 'Shift_JIS']) {
    const res = await send(`${stack.url}/documents`, { body: 'x', headers: STAR(charset, 'a%0D%0Ab.edi') })
    t.equal(res.status, 400, `${charset}: 400`)
    t.equal(res.json().type, 'urn:cic-gateway:problem:content-disposition-invalid', `${charset}: content-disposition-invalid`)
  }
  t.equal(stack.sim.calls.upload, 0, 'CIC never saw an upload')
})
