// Where a document's filename comes from, and the rules every source must pass.
import contentDisposition from 'content-disposition'
import { refusal, type ProblemError } from './problems.js'

const MAX_FILENAME_BYTES = 255
const SEPARATOR = /[/\\]/
// C0 and C1 controls, DEL, and Unicode line/paragraph separators: none belong in a filename,
// and CR/LF would smuggle headers once the name is sent on to CIC.
const CONTROL = /[\p{Cc}\u2028\u2029]/u
// Format characters (Unicode category Cf: bidi overrides and isolates, zero-width space and
// joiners, word joiner, BOM, soft hyphen, ...) and the other default-ignorable code points
// (Hangul fillers, combining grapheme joiner, ...): nothing a reader of a listing sees, but they
// reorder or hide what is shown. Variation selectors only pick a glyph (emoji, CJK, Mongolian).
const INVISIBLE = /(?![\u180b-\u180d\u180f\ufe00-\ufe0f\u{e0100}-\u{e01ef}])[\p{Cf}\p{Default_Ignorable_Code_Point}]/u
// Characters drawn like "/" or "\" that NFKC does not fold onto them: division and fraction
// slash, set minus, big and heavy solidi, box-drawing and mathematical diagonals, solidus
// overlays. The fullwidth and small forms (U+FF0F, U+FF3C, U+FE68) fold under NFKC and are
// listed as well.
// eslint-disable-next-line no-misleading-character-class -- combining overlays (U+0337, U+0338) are listed on purpose: alone they draw a slash
const LOOKALIKE_SLASH = /[\u0337\u0338\u1735\u2044\u20e5\u20eb\u2215\u2216\u2571\u2572\u27cb\u27cd\u29f5-\u29f9\u2afb\u2afd\ufe68\uff0f\uff3c\u{1f67c}\u{1f67d}]/u
// U+FFFD is what a lenient decoder leaves for bytes that are not UTF-8; a lone surrogate cannot
// be encoded as UTF-8 at all.
const NOT_UTF8 = /[\ufffd\p{Cs}]/u

function invalid (source: string, rule: string): ProblemError {
  return refusal('filename-invalid', `the filename from ${source} ${rule}`)
}

const RULE_UTF8 = 'is not valid UTF-8'

export function validateFilename (name: string | undefined, source: string): string {
  if (name === undefined || name === '') {
    throw refusal('filename-missing', `no filename: pass ?filename=, a Content-Disposition header with filename= or filename*=, or a multipart file part with a filename (checked: ${source})`)
  }
  if (NOT_UTF8.test(name)) throw invalid(source, RULE_UTF8)
  if (Buffer.byteLength(name, 'utf8') > MAX_FILENAME_BYTES) throw invalid(source, `is longer than ${MAX_FILENAME_BYTES} bytes`)
  // What a downstream system that normalizes (NFKC) would make of the name: "．．" is "..", "℀" is "a/c".
  const folded = name.normalize('NFKC')
  if (name === '.' || name === '..' || folded === '.' || folded === '..') throw invalid(source, 'may not be "." or ".." or a look-alike of them')
  if (SEPARATOR.test(name)) throw invalid(source, 'contains a path separator')
  if (CONTROL.test(name)) throw invalid(source, 'contains a control character')
  if (INVISIBLE.test(name)) throw invalid(source, 'contains an invisible or bidirectional formatting character')
  if (LOOKALIKE_SLASH.test(name) || SEPARATOR.test(folded)) throw invalid(source, 'contains a character that looks like a path separator')
  if (name.trim() === '') throw invalid(source, 'is blank')
  return name
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Percent-escapes to bytes; a "%" not followed by two hex digits stays a literal "%" (as URLSearchParams does). */
function percentDecode (text: string): Buffer {
  const bytes: number[] = []
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16))
      i += 2
    } else if (c < 0x80) {
      bytes.push(c)
    } else {
      bytes.push(...Buffer.from(text[i] ?? '', 'utf8'))
    }
  }
  return Buffer.from(bytes)
}

function decodeUtf8 (bytes: Buffer, source: string): string {
  try {
    return utf8.decode(bytes)
  } catch {
    throw invalid(source, RULE_UTF8)
  }
}

/**
 * The `filename` query parameter, decoded strictly from the URL as the caller sent it.
 * Fastify's query parser keeps a value it cannot decode literally ("%C0%AF" stays "%C0%AF"),
 * so the raw URL is read again here; `parsed` is Fastify's value, only to tell whether the
 * parameter is present.
 */
export function filenameFromQuery (url: string | undefined, parsed: string | undefined): string | undefined {
  if (parsed === undefined) return undefined
  const source = 'the filename query parameter'
  const at = url?.indexOf('?') ?? -1
  if (url === undefined || at === -1) return parsed
  const values: string[] = []
  for (const pair of url.slice(at + 1).split('&')) {
    const eq = pair.indexOf('=')
    const rawKey = (eq === -1 ? pair : pair.slice(0, eq)).replace(/\+/g, ' ')
    let key: string
    try { key = decodeURIComponent(rawKey) } catch { key = rawKey }
    if (key !== 'filename') continue
    values.push(decodeUtf8(percentDecode((eq === -1 ? '' : pair.slice(eq + 1)).replace(/\+/g, ' ')), source))
  }
  if (values.length !== 1) return parsed
  return values[0]
}

// The grammar of content-disposition 1.x, to find the raw filename* value after it parsed the header.
const DISPOSITION_TYPE = /^([!#$%&'*+.0-9A-Z^_`a-z|~-]+)[\x09\x20]*(?:$|;)/ // eslint-disable-line no-control-regex
const PARAM = /;[\x09\x20]*([!#$%&'*+.0-9A-Z^_`a-z|~-]+)[\x09\x20]*=[\x09\x20]*("(?:[\x20!\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\x20-\x7e])*"|[!#$%&'*+.0-9A-Z^_`a-z|~-]+)[\x09\x20]*/g // eslint-disable-line no-control-regex
// RFC 8187 ext-value: charset'language'value-chars
const EXT_VALUE = /^([A-Za-z0-9!#$%&+\-^_`{}~]+)'(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8}|)'((?:%[0-9A-Fa-f]{2}|[A-Za-z0-9!#$&+.^_`|~-])+)$/

function rawExtendedFilename (header: string): string | undefined {
  const type = DISPOSITION_TYPE.exec(header)
  if (type === null) return undefined
  PARAM.lastIndex = type[0].endsWith(';') ? type[0].length - 1 : type[0].length
  let found: string | undefined
  for (let m = PARAM.exec(header); m !== null; m = PARAM.exec(header)) {
    if (m[1]?.toLowerCase() === 'filename*') found = m[2]
  }
  return found
}

/**
 * A filename* ext-value decoded strictly: the percent-escapes to bytes, then the bytes as
 * UTF-8 (refused if not valid) or ISO-8859-1 (every byte a character, controls included, so
 * the rules see them instead of the "?" content-disposition would put in their place).
 */
function decodeExtValue (value: string, source: string): string | undefined {
  const m = EXT_VALUE.exec(value)
  if (m === null || m[1] === undefined || m[2] === undefined) return undefined
  const bytes = percentDecode(m[2])
  switch (m[1].toLowerCase()) {
    case 'utf-8':
    case 'utf8':
      return decodeUtf8(bytes, source)
    case 'iso-8859-1':
      return bytes.toString('latin1')
    default:
      return undefined
  }
}

// The form nearly every caller sends (`attachment; filename=x.edi`, or the name quoted
// without escapes): its filename is the parameter as written, which the parser below
// would find too, at 1-2 µs per request more. Anything else takes the parser.
const SIMPLE_DISPOSITION = /^attachment; ?filename=(?:([!#$&'*+.0-9A-Z^_`a-z|~-]+)|"([\x20\x21\x23-\x5b\x5d-\x7e]+)")$/

/** The filename parameter of a Content-Disposition header (RFC 6266; filename* preferred). */
export function filenameFromContentDisposition (header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return undefined
  const simple = SIMPLE_DISPOSITION.exec(header)
  if (simple !== null) return simple[1] ?? simple[2]
  let parsed: contentDisposition.ContentDisposition
  try {
    parsed = contentDisposition.parse(header)
  } catch {
    throw refusal('content-disposition-invalid', 'the Content-Disposition header cannot be parsed (RFC 6266)')
  }
  const extended = rawExtendedFilename(header)
  if (extended !== undefined) {
    const decoded = decodeExtValue(extended, 'the Content-Disposition header')
    if (decoded === undefined) throw refusal('content-disposition-invalid', 'the Content-Disposition header cannot be parsed (RFC 6266)')
    return decoded
  }
  return parsed.parameters.filename
}
