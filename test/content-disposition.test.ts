// The Content-Disposition fast paths give what content-disposition itself gives: the
// header sent to CIC for a name (src/cic/disposition.ts) and the filename read from the
// caller's header (src/http/filename.ts), for the names that take the fast path and for
// those next to it that must not.
import contentDisposition from 'content-disposition'
import t from 'tap'
import { uploadDisposition } from '../src/cic/disposition.js'
import { filenameFromContentDisposition } from '../src/http/filename.js'

const NAMES = [
  'bench_850.edi', 'invoice 2026-11.xml', "o'brien.txt", 'a(1)[2]{3}.csv', 'semi;colon.edi', 'eq=sign.x12', 'comma,name.txt',
  '~tilde!#$&*+^`|.dat', 'x', ' lead and trail ',
  // not plain: escaped, percent, path, non-ASCII, control
  'quote".edi', 'back\\slash.edi', '100%.edi', '%41.edi', 'dir/name.edi', 'Grüße.edi', '請求書.pdf', 'tab\there.edi', 'del\x7f.edi'
]

t.test('the header sent to CIC is the one content-disposition writes, for every name', async t => {
  for (const name of NAMES) t.equal(uploadDisposition(name), contentDisposition(name), JSON.stringify(name))
})

t.test('the filename read from a caller\'s header is the one content-disposition parses', async t => {
  const headers = [
    'attachment; filename=bench_850.edi', 'attachment;filename=bench_850.edi', 'attachment; filename="invoice 2026-11.xml"',
    'attachment; filename="a;b=c.edi"', "attachment; filename=o'brien.txt", 'attachment; filename="x"',
    // the parser's ground: escapes, other types, case, extended names, spacing
    'attachment; filename="q\\"uote.edi"', 'inline; filename=a.edi', 'Attachment; filename=a.edi', 'attachment; FILENAME=a.edi',
    'attachment; filename=a.edi; size=3', 'attachment;  filename=a.edi', 'attachment; filename = a.edi'
  ]
  for (const header of headers) {
    t.equal(filenameFromContentDisposition(header), contentDisposition.parse(header).parameters.filename, header)
  }
  t.equal(filenameFromContentDisposition("attachment; filename=fallback.edi; filename*=UTF-8''Gr%C3%BC%C3%9Fe.edi"), 'Grüße.edi', 'filename* still preferred')
})
