// POST /documents: the caller's bytes, a filename, and CIC's 201 JSON back.
// Bodies are opaque whatever their Content-Type, except multipart/form-data, where exactly
// one file part is the document.
import multipart from '@fastify/multipart'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { Readable } from 'node:stream'
import { BodyIncompleteError, BodyTooLargeError, prepareBody, SpoolError, type BodyOptions, type PreparedBody, type Spool } from '../delivery/body.js'
import { toDeliveryFailure, type DeliveryFailure } from '../delivery/failure.js'
import type { Idempotency, KeyClaim } from '../delivery/idempotency.js'
import type { DeliveryService } from '../delivery/service.js'
import type { Access } from './access.js'
import type { DocumentMetrics, DocumentResult } from '../metrics.js'
import type { ConcurrencyLimit } from './concurrency.js'
import { expectedSha256 } from './digest.js'
import { filenameFromContentDisposition, filenameFromQuery, validateFilename } from './filename.js'
import { parseIdempotencyKey } from './idempotency-key.js'
import { badRequest, problemFromError, ProblemError, sendProblem } from './problems.js'
import { documentQuerystring, documentRequestBody, documentResponses, mailboxParams } from './schemas.js'

export interface DocumentsRouteOptions {
  delivery: DeliveryService
  spool: Spool
  maxBodyBytes: number
  memoryBodyBytes: number
  uploads: ConcurrencyLimit
  idempotency: Idempotency
  metrics?: DocumentMetrics
  access: Access
  /** Writes the delivery line (scalar fields only; see scalarLineLogger). */
  deliveryLog: Logger
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
    // A file part over MAX_BODY_BYTES fails the iteration (FST_REQ_FILE_TOO_LARGE, 413) instead of being cut short.
    throwFileSizeLimit: true,
    limits: { ...MULTIPART_LIMITS, files: 1, fileSize: opts.maxBodyBytes }
  })

  // Before anything is read: an unauthenticated request never reaches CIC.
  app.addHook('onRequest', opts.access.authenticate)
  const security = [{ apiKey: [] }]
  // The request body is documented through route config: a body schema would make Fastify validate the unparsed stream.
  const config = { openapiRequestBody: documentRequestBody }

  app.post<{ Querystring: DocumentQuery }>('/documents', {
    config,
    schema: { summary: 'Deliver a document to the default mailbox', operationId: 'postDocument', security, querystring: documentQuerystring, response: documentResponses }
  }, async (request, reply) => {
    const mailbox = opts.delivery.defaultMailbox
    if (mailbox === undefined) {
      throw new ProblemError({ code: 'no-default-mailbox', status: 404, title: 'No default mailbox', detail: 'no default mailbox is configured: use /mailboxes/{name}/documents', delivered: 'no' })
    }
    opts.access.authorize(request, mailbox)
    return await handleDocument(request, reply, mailbox, opts)
  })

  app.post<{ Querystring: DocumentQuery, Params: { name: string } }>('/mailboxes/:name/documents', {
    config,
    schema: { summary: 'Deliver a document to a named mailbox', operationId: 'postMailboxDocument', security, params: mailboxParams, querystring: documentQuerystring, response: documentResponses }
  }, async (request, reply) => {
    const mailbox = request.params.name
    // Authorization first: a caller limited to some mailboxes learns nothing about the others, not even whether they exist.
    opts.access.authorize(request, mailbox)
    if (!opts.delivery.has(mailbox)) {
      throw new ProblemError({ code: 'mailbox-not-found', status: 404, title: 'Unknown mailbox', detail: 'no mailbox of this name is configured; nothing was delivered', delivered: 'no' })
    }
    return await handleDocument(request, reply, mailbox, opts)
  })
}

async function handleDocument (request: FastifyRequest<{ Querystring: DocumentQuery }>, reply: FastifyReply, mailbox: string, opts: DocumentsRouteOptions): Promise<FastifyReply> {
  const started = process.hrtime.bigint()
  // Load shedding: past the cap, refuse at once (the body is not read) instead of queueing.
  if (!opts.uploads.tryAcquire()) {
    opts.metrics?.documentStarted(mailbox).finish({ status: 503, code: 'overloaded', delivered: 'no' })
    throw new ProblemError({ code: 'overloaded', status: 503, title: 'Too many uploads in progress', detail: `the gateway is handling its maximum of ${opts.uploads.max} uploads; the document was not delivered and is safe to resend`, delivered: 'no', retryAfterSeconds: 1 })
  }
  // The caller hanging up aborts the upload to CIC at once.
  const abort = new AbortController()
  const onClose = (): void => { if (!reply.raw.writableFinished) abort.abort() }
  reply.raw.once('close', onClose)
  const tracker = opts.metrics?.documentStarted(mailbox)
  let result: DocumentResult = { status: 500, code: 'internal-error', delivered: 'unknown' }

  let key: string | undefined
  let claim: KeyClaim | undefined
  let body: PreparedBody | undefined
  let filename: string | undefined
  try {
    // Inside the try: a bad key must release the upload slot like any other refusal.
    key = parseIdempotencyKey(request.headers['idempotency-key'])
    // Claimed before the body is read, whatever the key's state: a concurrent repeat gets 409.
    // Per caller too: one caller cannot read another's receipt by guessing its key.
    if (key !== undefined) claim = await opts.idempotency.begin({ scope: `${request.caller?.name ?? ''}\u0000${mailbox}\u0000${key}`, mailbox })
    // A keyed body is kept whole, so it can be compared with the first one before anything is sent.
    const bodyOptions = { maxBytes: opts.maxBodyBytes, memoryBytes: opts.memoryBodyBytes, spool: opts.spool, expectedSha256: expectedSha256(request.headers), replayable: claim !== undefined }
    ;({ body, filename } = request.isMultipart()
      ? await readMultipart(request, { ...bodyOptions, expectedSha256: undefined })
      : await readRaw(request, bodyOptions))
    if (body.length === 0) throw badRequest('document-empty', 'Empty document', 'the document has no bytes; nothing was delivered')

    const replay = await claim?.resolve(body, filename, async (m, name) => await opts.delivery.findDelivered(m, name, request.id))
    if (replay !== undefined) {
      request.log.info({ event: 'document.replayed', mailbox, filename, idempotencyKey: key, how: replay.how, cicFileId: replay.fileId }, 'idempotent repeat answered without a new upload')
      result = { status: 201, replayed: true }
      return await sendCreated(reply, replay.raw, replay.sha256, replay.how)
    }

    const receipt = await opts.delivery.deliver({ mailbox, filename, body, requestId: request.id, signal: abort.signal })
    const sha256 = receipt.sha256.toString('base64')
    if (claim !== undefined && !await claim.succeeded(receipt.raw)) {
      request.log.warn({ event: 'idempotency.unrecorded', mailbox, filename, idempotencyKey: key }, 'delivered, but the Idempotency-Key record could not be written: a repeat will reconcile with CIC')
    }
    // The line request.log would write (its bindings: requestId from Fastify, caller from
    // access.ts), without the wildcard redaction that cannot match these scalar fields.
    opts.deliveryLog.info({
      requestId: request.id,
      caller: request.caller?.name,
      event: 'document.delivered',
      mailbox,
      filename,
      bytes: receipt.bytes,
      cicFileId: receipt.fileId,
      sha256,
      attempts: receipt.attempts,
      bodyMode: body.mode,
      idempotencyKey: key,
      durationMs: Number(process.hrtime.bigint() - started) / 1e6
    }, 'document delivered')
    result = { status: 201, bytes: receipt.bytes }
    return await sendCreated(reply, receipt.raw, receipt.sha256)
  } catch (err) {
    // Caller mistakes (filename, multipart shape) go to the error handler as problems.
    const failure = err instanceof ProblemError || isFastifyError(err) ? undefined : toDeliveryFailure(err, { replayable: body?.replayable ?? false })
    await claim?.failed(failure?.delivered ?? 'no').catch(() => {})
    if (failure === undefined) {
      const problem = problemFromError(err as FastifyError | ProblemError)
      result = { status: problem.status, code: problem.code, delivered: problem.delivered }
      // Every document request leaves one line, refused ones too: "did my document arrive?" has an answer.
      request.log.info({ event: 'document.failed', mailbox, filename, code: problem.code, status: problem.status, delivered: problem.delivered, durationMs: Number(process.hrtime.bigint() - started) / 1e6 }, 'document refused')
      throw err
    }
    result = { status: failure.status, code: failure.code, delivered: failure.delivered }
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
    opts.uploads.release()
    tracker?.finish(result)
    reply.raw.off('close', onClose)
    await body?.cleanup()
  }
}

async function sendCreated (reply: FastifyReply, raw: Buffer, sha256: Buffer, replayed?: string): Promise<FastifyReply> {
  void reply.code(201).header('content-type', 'application/json').header('repr-digest', `sha-256=:${sha256.toString('base64')}:`)
  if (replayed !== undefined) void reply.header('idempotent-replayed', replayed)
  return await reply.send(raw)
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
  const tooLarge = (): ProblemError => new ProblemError({ code: 'document-too-large', status: 413, title: 'Document too large', detail: `the multipart request is larger than the gateway accepts (MAX_BODY_BYTES for the file plus ${allowance} bytes for fields and part headers); nothing was delivered`, delivered: 'no' })
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
          throw new ProblemError({ code: 'multipart-field-too-large', status: 413, title: 'Multipart field too large', detail: `a multipart field is larger than the gateway accepts (${MULTIPART_LIMITS.fieldSize} bytes); nothing was delivered`, delivered: 'no' })
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
    throw badRequest('multipart-invalid', 'Invalid multipart request', `the multipart body cannot be read: ${err instanceof Error ? err.message : 'malformed'}`)
  } finally {
    request.raw.off('data', onData)
  }
  if (body === undefined || filename === undefined) {
    throw badRequest('multipart-no-file', 'No file part', 'the multipart request has no file part: send exactly one')
  }
  return { body, filename }
}
