// POST /documents and POST /mailboxes/{name}/documents: the caller's bytes, a filename, and
// CIC's 201 JSON back. Bodies are opaque whatever their Content-Type, except
// multipart/form-data, where exactly one file part is the document. The handler reads the
// request and hands it to the delivery layer (delivery/intake.ts), which holds every rule.
import multipart from '@fastify/multipart'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DeliveryFailure } from '../delivery/failure.js'
import type { DocumentResult } from '../observability/metrics.js'
import type { SubmissionResult } from '../delivery/intake.js'
import { multipartOptions, readDocument, type DocumentQuery, type DocumentRequest } from '../http/document-reader.js'
import { HangUp } from '../http/hang-up.js'
import { parseIdempotencyKey } from '../http/idempotency-key.js'
import { PROBLEM_TYPES } from '../http/problem-catalogue.js'
import { deliveryProblem, isFastifyError, problemFromError, ProblemError, sendProblem, type Problem } from '../http/problems.js'
import { documentQuerystring, documentRequestBody, documentResponses, mailboxParams } from '../http/schemas.js'

export interface DocumentsRouteOptions {
  maxBodyBytes: number
  memoryBodyBytes: number
}

export async function documentsRoutes (app: FastifyInstance, opts: DocumentsRouteOptions): Promise<void> {
  // In this scope every body is opaque bytes: no JSON or text parsing, the handler reads the stream.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })
  await app.register(multipart, multipartOptions(opts.maxBodyBytes))
  // Before anything is read: an unauthenticated request never reaches CIC.
  app.addHook('onRequest', app.access.authenticate)
  const security = [{ apiKey: [] }]
  // The request body is documented through route config: a body schema would make Fastify validate the unparsed stream.
  const config = { openapiRequestBody: documentRequestBody }
  const limits = { maxBytes: opts.maxBodyBytes, memoryBytes: opts.memoryBodyBytes, spool: app.spool }

  const deliver = async (request: DocumentRequest, reply: FastifyReply, mailbox: string): Promise<FastifyReply> => {
    const tracker = app.metrics.documentStarted(mailbox)
    const started = process.hrtime.bigint()
    // The caller hanging up aborts the upload to CIC at once.
    const hangUp = new HangUp()
    const onClose = (): void => { if (!reply.raw.writableFinished) hangUp.abort() }
    reply.raw.once('close', onClose)
    try {
      const result = await app.intake.submit({
        caller: request.caller?.name ?? '',
        mailbox,
        idempotencyKey: parseIdempotencyKey(request.headers['idempotency-key']),
        requestId: request.id,
        signal: hangUp,
        read: async keep => await readDocument(request, limits, keep),
        async: prefersAsync(request.headers.prefer)
      })
      tracker.finish(documentResult(result))
      return await sendResult(reply, result)
    } catch (err) {
      const problem = documentProblem(request, err)
      tracker.finish({ status: PROBLEM_TYPES[problem.code].status, code: problem.code, delivered: problem.delivered })
      logRefusal(request, mailbox, problem, err, { durationMs: Number(process.hrtime.bigint() - started) / 1e6, callerGone: hangUp.aborted })
      return sendProblem(reply, problem)
    } finally {
      reply.raw.off('close', onClose)
    }
  }

  app.post<{ Querystring: DocumentQuery }>('/documents', {
    config,
    schema: { summary: 'Deliver a document to the default mailbox', operationId: 'postDocument', security, querystring: documentQuerystring, response: documentResponses }
  }, async (request, reply) => {
    const mailbox = app.delivery.defaultMailbox
    if (mailbox === undefined) throw new ProblemError({ code: 'no-default-mailbox', detail: 'no default mailbox is configured: use /mailboxes/{name}/documents', delivered: 'no' })
    app.access.authorize(request, mailbox)
    return await deliver(request, reply, mailbox)
  })

  app.post<{ Querystring: DocumentQuery, Params: { name: string } }>('/mailboxes/:name/documents', {
    config,
    schema: { summary: 'Deliver a document to a named mailbox', operationId: 'postMailboxDocument', security, params: mailboxParams, querystring: documentQuerystring, response: documentResponses }
  }, async (request, reply) => {
    const mailbox = request.params.name
    // Authorization first: a caller limited to some mailboxes learns nothing about the others, not even whether they exist.
    app.access.authorize(request, mailbox)
    if (!app.delivery.has(mailbox)) throw new ProblemError({ code: 'mailbox-not-found', detail: 'no mailbox of this name is configured; nothing was delivered', delivered: 'no' })
    return await deliver(request, reply, mailbox)
  })
}

/** RFC 7240: `Prefer: respond-async` (among other preferences, any case). */
function prefersAsync (prefer: string | string[] | undefined): boolean {
  if (prefer === undefined) return false
  return (Array.isArray(prefer) ? prefer.join(',') : prefer).split(',').some(p => p.split(';')[0]!.trim().toLowerCase() === 'respond-async')
}

function documentResult (result: SubmissionResult): DocumentResult {
  if (result.kind === 'delivered') return { status: 201, bytes: result.receipt.bytes }
  if (result.kind === 'replayed') return { status: 201, replayed: true }
  return result.repeated ? { status: 202, replayed: true } : { status: 202 }
}

async function sendResult (reply: FastifyReply, result: SubmissionResult): Promise<FastifyReply> {
  if (result.kind === 'accepted') {
    const { status } = result
    // A repeat of a key whose document the outbox has delivered since: CIC's 201, as a replay.
    if (status.state === 'delivered' && status.cic !== undefined) {
      void reply.code(201).header('content-type', 'application/json').header('repr-digest', `sha-256=:${status.sha256}:`).header('idempotent-replayed', 'stored')
      return await reply.send(JSON.stringify(status.cic))
    }
    void reply.code(202).header('preference-applied', 'respond-async').header('location', `/deliveries/${status.id}`)
    if (result.repeated) void reply.header('idempotent-replayed', 'stored')
    return await reply.send({ id: status.id, state: status.state, mailbox: status.mailbox, filename: status.filename, bytes: status.bytes, sha256: status.sha256, acceptedAt: status.acceptedAt })
  }
  const { raw, sha256 } = result.kind === 'replayed' ? result.replay : result.receipt
  void reply.code(201).header('content-type', 'application/json').header('repr-digest', `sha-256=:${sha256.toString('base64')}:`)
  if (result.kind === 'replayed') void reply.header('idempotent-replayed', result.replay.how)
  return await reply.send(raw)
}

/** What the caller is told: the delivery's outcome, a refusal of the request, or an internal error. */
function documentProblem (request: FastifyRequest, err: unknown): Problem {
  if (err instanceof DeliveryFailure) return deliveryProblem(err)
  if (err instanceof ProblemError || isFastifyError(err)) return problemFromError(err as FastifyError | ProblemError)
  request.log.error({ err }, 'unhandled error')
  return { code: 'internal-error', detail: 'the gateway failed unexpectedly; whether CIC holds the document is unknown', delivered: 'unknown' }
}

/** Every document request leaves one line, refused ones too: "did my document arrive?" has an answer. */
function logRefusal (request: FastifyRequest, mailbox: string, problem: Problem, err: unknown, timing: { durationMs: number, callerGone: boolean }): void {
  const status = PROBLEM_TYPES[problem.code].status
  const cause = err instanceof DeliveryFailure ? err.cause : undefined
  const fields = {
    event: 'document.failed',
    mailbox,
    filename: err instanceof DeliveryFailure ? err.filename : undefined,
    code: problem.code,
    status,
    delivered: problem.delivered,
    cicStatus: problem.upstreamStatus,
    ...timing,
    err: cause instanceof Error ? { type: cause.name, message: cause.message } : undefined
  }
  if (status >= 500) request.log.warn(fields, 'document not delivered')
  else request.log.info(fields, 'document refused')
}
