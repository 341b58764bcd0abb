// Reads a document request: its filename (query, Content-Disposition or the multipart file
// part, each checked by filename.ts) and its body (bytes as sent, or the one file part of
// multipart/form-data), as a PreparedBody for the delivery layer.
import type { FastifyRequest } from 'fastify'
import type { Readable } from 'node:stream'
import { BodyIncompleteError, BodyTooLargeError, prepareBody, SpoolError, type BodyOptions, type PreparedBody } from '../delivery/body.js'
import { expectedSha256 } from './digest.js'
import { filenameFromContentDisposition, filenameFromQuery, validateFilename } from './filename.js'
import { isFastifyError, ProblemError, refusal } from './problems.js'

export interface DocumentQuery {
  filename?: string
}

export type DocumentRequest = FastifyRequest<{ Querystring: DocumentQuery }>

const MULTIPART_LIMITS = { fields: 10, fieldSize: 64 * 1024, parts: 20, headerPairs: 50 }

/** @fastify/multipart's options for the document routes. */
export function multipartOptions (maxBodyBytes: number): Record<string, unknown> {
  return {
    // Keep "../x" as the caller sent it so the filename rules can refuse it, instead of busboy's silent basename().
    preservePath: true,
    // A file part over MAX_BODY_BYTES fails the iteration (FST_REQ_FILE_TOO_LARGE, 413) instead of being cut short.
    throwFileSizeLimit: true,
    limits: { ...MULTIPART_LIMITS, files: 1, fileSize: maxBodyBytes }
  }
}

/** The document of a request: its filename and its body (kept whole when `keep`). */
export async function readDocument (request: DocumentRequest, limits: Omit<BodyOptions, 'expectedSha256' | 'replayable'>, keep: boolean): Promise<{ body: PreparedBody, filename: string }> {
  const bodyOptions = { ...limits, replayable: keep }
  // For multipart requests the digest headers describe the whole multipart body, not the document.
  return request.isMultipart()
    ? await readMultipart(request, bodyOptions)
    : await readRaw(request, { ...bodyOptions, expectedSha256: expectedSha256(request.headers) })
}

function isBodyError (err: unknown): boolean {
  return err instanceof BodyTooLargeError || err instanceof BodyIncompleteError || err instanceof SpoolError
}

function declaredLength (request: FastifyRequest): number | undefined {
  // With Transfer-Encoding the length is unknown whatever Content-Length says (RFC 9112).
  if (request.headers['transfer-encoding'] !== undefined) return undefined
  const header = request.headers['content-length']
  if (header === undefined) return 0
  const length = Number(header)
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined
}

async function readRaw (request: FastifyRequest<{ Querystring: DocumentQuery }>, bodyOptions: BodyOptions): Promise<{ body: PreparedBody, filename: string }> {
  const query = filenameFromQuery(request.raw.url, request.query.filename)
  const filename = query !== undefined
    ? validateFilename(query, 'the filename query parameter')
    : validateFilename(filenameFromContentDisposition(request.headers['content-disposition']), 'the Content-Disposition header')
  const body = await prepareBody(request.raw, declaredLength(request), bodyOptions)
  return { body, filename }
}

async function readMultipart (request: FastifyRequest<{ Querystring: DocumentQuery }>, bodyOptions: BodyOptions): Promise<{ body: PreparedBody, filename: string }> {
  const query = filenameFromQuery(request.raw.url, request.query.filename)
  if (query !== undefined) validateFilename(query, 'the filename query parameter')
  // The whole request is bounded, not only its file part: the file (MAX_BODY_BYTES) plus a
  // fixed allowance for the fields, the part headers, boundaries, preamble and epilogue.
  // busboy skips what it does not keep (bytes past a field's size, fields past the count, a
  // preamble) without a limit, so the request's own bytes are counted.
  const allowance = 64 * 1024 + MULTIPART_LIMITS.fields * MULTIPART_LIMITS.fieldSize
  const bound = bodyOptions.maxBytes + allowance
  const tooLarge = (): ProblemError => new ProblemError({ code: 'document-too-large', detail: `the multipart request is larger than the gateway accepts (MAX_BODY_BYTES for the file plus ${allowance} bytes for fields and part headers); nothing was delivered`, delivered: 'no' })
  const declared = declaredLength(request)
  // Refused before a byte is read when the length says so.
  if (declared !== undefined && declared > bound) throw tooLarge()

  let body: PreparedBody | undefined
  let filename: string | undefined
  let file: Readable | undefined
  let received = 0
  let overLimit = false
  let refuse: (err: Error) => void = () => {}
  const exceeded = new Promise<never>((_resolve, reject) => { refuse = reject })
  exceeded.catch(() => {})
  const onData = (chunk: Buffer): void => {
    received += chunk.length
    if (received <= bound || overLimit) return
    overLimit = true
    // Stop feeding busboy and break off the file part being spooled (its spool is released).
    request.raw.unpipe()
    file?.destroy(new BodyTooLargeError(bodyOptions.maxBytes))
    refuse(tooLarge())
  }
  const parts = request.parts()
  try {
    // The first step pipes the request into busboy; the count starts right after it.
    let step = parts.next()
    request.raw.on('data', onData)
    for (;;) {
      step.catch(() => {})
      const { value: part, done } = await Promise.race([step, exceeded])
      if (overLimit) throw tooLarge()
      if (done === true) break
      if (part.type === 'field') {
        // busboy cuts a field at fieldSize (or its name at 100 bytes) and says so: refused, never a silently shortened field.
        if (part.valueTruncated || part.fieldnameTruncated) {
          throw new ProblemError({ code: 'multipart-field-too-large', detail: `a multipart field is larger than the gateway accepts (${MULTIPART_LIMITS.fieldSize} bytes); nothing was delivered`, delivered: 'no' })
        }
      } else {
        filename = query ?? validateFilename(part.filename, 'the multipart file part')
        file = part.file as Readable
        // A part's length is unknown until it ends: spool it (memory, then disk).
        body = await prepareBody(file, undefined, bodyOptions)
        file = undefined
        if (overLimit) throw tooLarge()
      }
      step = parts.next()
    }
  } catch (err) {
    await body?.cleanup()
    if (overLimit) throw tooLarge()
    if (err instanceof ProblemError || isFastifyError(err) || isBodyError(err)) throw err
    // busboy's own errors ("Unexpected end of form", malformed boundaries) are caller mistakes.
    throw refusal('multipart-invalid', `the multipart body cannot be read: ${err instanceof Error ? err.message : 'malformed'}`)
  } finally {
    request.raw.off('data', onData)
  }
  if (body === undefined || filename === undefined) {
    throw refusal('multipart-no-file', 'the multipart request has no file part: send exactly one')
  }
  return { body, filename }
}
