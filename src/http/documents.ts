// POST /documents: the caller's bytes, a filename, and CIC's 201 JSON back.
// Bodies are opaque whatever their Content-Type, except multipart/form-data, where exactly
// one file part is the document.
import multipart from '@fastify/multipart'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Readable } from 'node:stream'
import { BodyIncompleteError, BodyTooLargeError, prepareBody, SpoolError, type PreparedBody, type Spool } from '../delivery/body.js'
import { DeliveryFailure, toDeliveryFailure } from '../delivery/failure.js'
import type { DeliveryService } from '../delivery/service.js'
import { filenameFromContentDisposition, validateFilename } from './filename.js'
import { badRequest, ProblemError, sendProblem } from './problems.js'

export interface DocumentsRouteOptions {
  delivery: DeliveryService
  spool: Spool
  maxBodyBytes: number
  memoryBodyBytes: number
}

interface DocumentQuery {
  filename?: string
}

const MULTIPART_LIMITS = { fields: 10, fieldSize: 64 * 1024, parts: 20, headerPairs: 50 }

export async function documentsRoutes (app: FastifyInstance, opts: DocumentsRouteOptions): Promise<void> {
  // In this scope every body is opaque bytes: no JSON or text parsing, the handler reads the stream.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })
  await app.register(multipart, {
    // Keep "../x" as the caller sent it so the filename rules can refuse it, instead of busboy's silent basename().
    preservePath: true,
    limits: { ...MULTIPART_LIMITS, files: 1, fileSize: opts.maxBodyBytes }
  })

  const querystring = {
    type: 'object',
    properties: { filename: { type: 'string', description: 'Filename in CIC; overrides Content-Disposition and the multipart part filename' } },
    additionalProperties: true
  }

  app.post<{ Querystring: DocumentQuery }>('/documents', { schema: { querystring } }, async (request, reply) => {
    const mailbox = opts.delivery.defaultMailbox
    if (mailbox === undefined) {
      throw new ProblemError({ code: 'no-default-mailbox', status: 404, title: 'No default mailbox', detail: 'no default mailbox is configured: use /mailboxes/{name}/documents' })
    }
    return await handleDocument(request, reply, mailbox, opts)
  })
}

async function handleDocument (request: FastifyRequest<{ Querystring: DocumentQuery }>, reply: FastifyReply, mailbox: string, opts: DocumentsRouteOptions): Promise<FastifyReply> {
  const started = process.hrtime.bigint()
  // The caller hanging up aborts the upload to CIC at once.
  const abort = new AbortController()
  const onClose = (): void => { if (!reply.raw.writableFinished) abort.abort() }
  reply.raw.once('close', onClose)

  let body: PreparedBody | undefined
  let filename: string | undefined
  try {
    ({ body, filename } = request.isMultipart()
      ? await readMultipart(request, opts)
      : await readRaw(request, opts))
    if (body.length === 0) throw badRequest('document-empty', 'Empty document', 'the document has no bytes; nothing was delivered')

    const receipt = await opts.delivery.deliver({ mailbox, filename, body, requestId: request.id, signal: abort.signal })
    const sha256 = receipt.sha256.toString('base64')
    request.log.info({
      event: 'document.delivered',
      mailbox,
      filename,
      bytes: receipt.bytes,
      cicFileId: receipt.fileId,
      sha256,
      attempts: receipt.attempts,
      bodyMode: body.mode,
      durationMs: Number(process.hrtime.bigint() - started) / 1e6
    }, 'document delivered')
    return await reply
      .code(201)
      .header('content-type', 'application/json')
      .header('repr-digest', `sha-256=:${sha256}:`)
      .send(receipt.raw)
  } catch (err) {
    // Caller mistakes (filename, multipart shape) go to the error handler as problems.
    if (err instanceof ProblemError || isFastifyError(err)) throw err
    const failure = toDeliveryFailure(err, { replayable: body?.replayable ?? false })
    logFailure(request, failure, mailbox, filename, started, abort.signal.aborted)
    return sendProblem(reply, {
      code: failure.code,
      status: failure.status,
      title: failure.title,
      detail: failure.message,
      delivered: failure.delivered,
      retryAfterSeconds: failure.retryAfterSeconds,
      upstreamStatus: failure.upstreamStatus
    })
  } finally {
    reply.raw.off('close', onClose)
    await body?.cleanup()
  }
}

function logFailure (request: FastifyRequest, failure: DeliveryFailure, mailbox: string, filename: string | undefined, started: bigint, callerGone: boolean): void {
  const fields = {
    event: 'document.failed',
    mailbox,
    filename,
    code: failure.code,
    status: failure.status,
    delivered: failure.delivered,
    cicStatus: failure.upstreamStatus,
    callerGone,
    durationMs: Number(process.hrtime.bigint() - started) / 1e6,
    err: failure.cause instanceof Error ? { type: failure.cause.name, message: failure.cause.message } : undefined
  }
  if (failure.status >= 500) request.log.warn(fields, 'document not delivered')
  else request.log.info(fields, 'document refused')
}

function isFastifyError (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('FST_')
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

async function readRaw (request: FastifyRequest<{ Querystring: DocumentQuery }>, opts: DocumentsRouteOptions): Promise<{ body: PreparedBody, filename: string }> {
  const query = request.query.filename
  const filename = query !== undefined
    ? validateFilename(query, 'the filename query parameter')
    : validateFilename(filenameFromContentDisposition(request.headers['content-disposition']), 'the Content-Disposition header')
  const body = await prepareBody(request.raw, declaredLength(request), { maxBytes: opts.maxBodyBytes, memoryBytes: opts.memoryBodyBytes, spool: opts.spool })
  return { body, filename }
}

async function readMultipart (request: FastifyRequest<{ Querystring: DocumentQuery }>, opts: DocumentsRouteOptions): Promise<{ body: PreparedBody, filename: string }> {
  const query = request.query.filename
  if (query !== undefined) validateFilename(query, 'the filename query parameter')
  let body: PreparedBody | undefined
  let filename: string | undefined
  try {
    for await (const part of request.parts()) {
      if (part.type !== 'file') continue
      filename = query ?? validateFilename(part.filename, 'the multipart file part')
      // A part's length is unknown until it ends: spool it (memory, then disk).
      body = await prepareBody(part.file as Readable, undefined, { maxBytes: opts.maxBodyBytes, memoryBytes: opts.memoryBodyBytes, spool: opts.spool })
    }
  } catch (err) {
    await body?.cleanup()
    if (err instanceof ProblemError || isFastifyError(err) || isBodyError(err)) throw err
    // busboy's own errors ("Unexpected end of form", malformed boundaries) are caller mistakes.
    throw badRequest('multipart-invalid', 'Invalid multipart request', `the multipart body cannot be read: ${err instanceof Error ? err.message : 'malformed'}`)
  }
  if (body === undefined || filename === undefined) {
    throw badRequest('multipart-no-file', 'No file part', 'the multipart request has no file part: send exactly one')
  }
  return { body, filename }
}
