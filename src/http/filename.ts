// Where a document's filename comes from, and the rules every source must pass.
import contentDisposition from 'content-disposition'
import { badRequest } from './problems.js'

const MAX_FILENAME_BYTES = 255
// C0 and C1 controls, DEL, and Unicode line/paragraph separators: none belong in a filename,
// and CR/LF would smuggle headers once the name is sent on to CIC.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029/\\]/

export function validateFilename (name: string | undefined, source: string): string {
  if (name === undefined || name === '') {
    throw badRequest('filename-missing', 'Filename missing', `no filename: pass ?filename=, a Content-Disposition header with filename= or filename*=, or a multipart file part with a filename (checked: ${source})`)
  }
  if (Buffer.byteLength(name, 'utf8') > MAX_FILENAME_BYTES) {
    throw badRequest('filename-invalid', 'Invalid filename', `the filename from ${source} is longer than ${MAX_FILENAME_BYTES} bytes`)
  }
  if (name === '.' || name === '..') {
    throw badRequest('filename-invalid', 'Invalid filename', `the filename from ${source} may not be "." or ".."`)
  }
  if (FORBIDDEN.test(name)) {
    throw badRequest('filename-invalid', 'Invalid filename', `the filename from ${source} contains a path separator or a control character`)
  }
  if (name.trim() === '') {
    throw badRequest('filename-invalid', 'Invalid filename', `the filename from ${source} is blank`)
  }
  return name
}

/** The filename parameter of a Content-Disposition header (RFC 6266; filename* preferred). */
export function filenameFromContentDisposition (header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return undefined
  let parsed: contentDisposition.ContentDisposition
  try {
    parsed = contentDisposition.parse(header)
  } catch {
    throw badRequest('content-disposition-invalid', 'Invalid Content-Disposition', 'the Content-Disposition header cannot be parsed (RFC 6266)')
  }
  return parsed.parameters.filename
}
