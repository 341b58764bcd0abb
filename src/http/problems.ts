// RFC 9457 problem+json: every error the gateway answers goes through here.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { DeliveryFailure } from '../delivery/failure.js'
import type { RouteTable } from './methods.js'
import { PROBLEM_TYPES, type ProblemCode } from './problem-catalogue.js'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/** One answer of the catalogue (problem-catalogue.ts gives its status and title) with its details. */
export interface Problem {
  /** Stable machine-readable code; also the last part of `type`. */
  code: ProblemCode
  detail: string
  /** 'no': CIC does not hold the document, safe to resend. 'unknown': check before resending. */
  delivered?: 'no' | 'unknown'
  retryAfterSeconds?: number
  upstreamStatus?: number
  /** RFC 9457 extension members of this problem (e.g. /readyz's per-mailbox reasons). */
  extensions?: Record<string, unknown>
}

export function problemType (code: string): string {
  return `urn:cic-gateway:problem:${code}`
}

/** The problem+json body of a problem (without the request's own fields). */
export function problemBody (problem: Problem): { status: number, body: Record<string, unknown> } {
  const { status, title } = PROBLEM_TYPES[problem.code]
  const body: Record<string, unknown> = { type: problemType(problem.code), title, status, detail: problem.detail }
  if (problem.delivered !== undefined) body.delivered = problem.delivered
  if (problem.upstreamStatus !== undefined) body.cicStatus = problem.upstreamStatus
  if (problem.retryAfterSeconds !== undefined) body.retryAfterSeconds = problem.retryAfterSeconds
  if (problem.extensions !== undefined) Object.assign(body, problem.extensions)
  return { status, body }
}

/** A delivery that ended without CIC's 201, as the caller is told. */
export function deliveryProblem (failure: DeliveryFailure): Problem {
  return { code: failure.code, detail: failure.message, delivered: failure.delivered, retryAfterSeconds: failure.retryAfterSeconds, upstreamStatus: failure.upstreamStatus }
}

export function sendProblem (reply: FastifyReply, problem: Problem): FastifyReply {
  if (problem.retryAfterSeconds !== undefined) void reply.header('retry-after', String(problem.retryAfterSeconds))
  const { status, body } = problemBody(problem)
  body.requestId = reply.request.id
  // The route pattern, never the raw path: nothing from the input is reflected.
  const route = reply.request.routeOptions.url
  if (route !== undefined) body.instance = route
  return reply.code(status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body))
}

/** Thrown by handlers for a caller mistake; the error handler turns it into a problem. */
export class ProblemError extends Error {
  constructor (readonly problem: Problem) {
    super(problem.detail)
    this.name = 'ProblemError'
  }
}

/** A refusal of the request as sent: nothing was delivered. */
export function refusal (code: ProblemCode, detail: string): ProblemError {
  return new ProblemError({ code, detail, delivered: 'no' })
}

// Fixed details: some Fastify messages quote the input (e.g. the media type), and nothing from the input is reflected.
const FASTIFY_CODES: Record<string, Problem> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'document-too-large', detail: 'the document is larger than the gateway accepts (MAX_BODY_BYTES)', delivered: 'no' },
  FST_REQ_FILE_TOO_LARGE: { code: 'document-too-large', detail: 'the file part is larger than the gateway accepts (MAX_BODY_BYTES)', delivered: 'no' },
  FST_FILES_LIMIT: { code: 'multipart-too-many-files', detail: 'the multipart request has more than one file part: send exactly one', delivered: 'no' },
  FST_PARTS_LIMIT: { code: 'multipart-too-many-parts', detail: 'the multipart request has too many parts', delivered: 'no' },
  FST_FIELDS_LIMIT: { code: 'multipart-too-many-fields', detail: 'the multipart request has too many fields', delivered: 'no' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { code: 'multipart-invalid', detail: 'the request is not multipart/form-data', delivered: 'no' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported-media-type', detail: 'this route does not accept the request\'s Content-Type', delivered: 'no' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'bad-request', detail: 'the request body is empty', delivered: 'no' },
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'bad-request', detail: 'the request body is not valid JSON', delivered: 'no' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'bad-request', detail: 'the request body does not match its Content-Length', delivered: 'no' },
  FST_ERR_ROUTE_MISSING_CONTENT_TYPE: { code: 'bad-request', detail: 'this request method needs a Content-Type', delivered: 'no' },
  FST_ERR_ROUTE_MISSING_CONTENT: { code: 'bad-request', detail: 'this request method needs a body', delivered: 'no' },
  FST_ERR_NOT_FOUND: { code: 'not-found', detail: 'no route for this method on this path', delivered: 'no' },
  FST_ERR_HANDLER_TIMEOUT: { code: 'handler-timeout', detail: 'the gateway did not finish the request in time', delivered: 'unknown' },
  // Raised by the router before any route or hook runs (frameworkErrors below); Fastify's own answers quote the path.
  FST_ERR_BAD_URL: { code: 'bad-url', detail: 'the request path is not valid percent-encoding', delivered: 'no' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'uri-too-long', detail: 'a path segment is longer than the gateway accepts (100 characters)', delivered: 'no' },
  FST_ERR_ASYNC_CONSTRAINT: { code: 'internal-error', detail: 'the gateway failed to route the request', delivered: 'no' }
}

/** An error Fastify (or one of its plugins) raised, by its FST_ code. */
export function isFastifyError (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('FST_')
}

/** The problem the error handler answers for an error thrown by a handler or by Fastify. */
export function problemFromError (error: FastifyError | ProblemError): Problem {
  if (error instanceof ProblemError) return error.problem
  const known = error.code !== undefined ? FASTIFY_CODES[error.code] : undefined
  if (known !== undefined) return known
  if (error.validation !== undefined) {
    return { code: 'bad-request', detail: error.message, delivered: 'no' }
  }
  const status = error.statusCode ?? 500
  if (status >= 400 && status < 500) {
    // A fixed detail: Fastify's messages may quote the input.
    return { code: 'bad-request', detail: 'the request cannot be processed as sent', delivered: 'no' }
  }
  return { code: 'internal-error', detail: 'the gateway failed unexpectedly', delivered: 'unknown' }
}

/**
 * Fastify's `frameworkErrors` option: the errors the router raises before a route (and so
 * before any hook or error handler) is chosen: FST_ERR_BAD_URL, FST_ERR_MAX_PARAM_LENGTH,
 * FST_ERR_ASYNC_CONSTRAINT. Fastify's default answers are plain JSON quoting the path.
 */
export function frameworkErrorHandler (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  // No hook runs for these requests: the request id and the close of an unread body are set here.
  void reply.header('x-request-id', request.id)
  if (!request.raw.complete) void reply.header('connection', 'close')
  // The code only: Fastify's message quotes the path.
  request.log.info({ err: { code: error.code } }, 'request refused by the router')
  sendProblem(reply, problemFromError(error))
}

export function registerProblemHandlers (app: FastifyInstance, routes?: RouteTable): void {
  const notFound = (request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const allowed = routes?.allowed(request.url.split('?')[0] ?? '') ?? []
    if (allowed.length > 0) {
      void reply.header('allow', allowed.join(', '))
      return sendProblem(reply, { code: 'method-not-allowed', detail: `this path does not support ${request.method}` })
    }
    // The path is not echoed: nothing from the input is reflected.
    return sendProblem(reply, { code: 'not-found', detail: `no route for ${request.method} on this path` })
  }
  app.setNotFoundHandler(notFound)

  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    // No route matched, and Fastify refused the request before the not-found handler (e.g. QUERY without a Content-Type).
    if (request.is404 && !(error instanceof ProblemError)) return notFound(request, reply)
    const problem = problemFromError(error)
    if (problem.code === 'internal-error') request.log.error({ err: error }, 'unhandled error')
    else if (!(error instanceof ProblemError) && error.validation === undefined) request.log.info({ err: { code: error.code, message: error.message } }, 'request refused')
    return sendProblem(reply, problem)
  })
}
