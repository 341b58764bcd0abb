// buildApp(): the one place that wires the HTTP server to the delivery service.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import underPressure from '@fastify/under-pressure'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from './config/index.js'
import type { Spool } from './delivery/body.js'
import type { DeliveryService } from './delivery/service.js'
import { Access } from './http/access.js'
import { clientErrorHandler } from './http/client-errors.js'
import type { ConcurrencyLimit } from './http/concurrency.js'
import { documentsRoutes } from './http/documents.js'
import { continueOnFirstRead } from './http/expect-continue.js'
import { ambiguousHead } from './http/framing.js'
import { healthRoutes } from './http/health.js'
import type { Idempotency } from './delivery/idempotency.js'
import { metricsRoutes } from './http/metrics.js'
import { trackRoutes } from './http/methods.js'
import { registerOpenApi } from './http/openapi.js'
import { frameworkErrorHandler, registerProblemHandlers, sendProblem } from './http/problems.js'
import type { Lifecycle } from './lifecycle.js'
import type { Metrics } from './metrics.js'
import { scalarLineLogger } from './logger.js'
import { closeInStages } from './http/staged-close.js'

export interface AppDeps {
  config: Config
  delivery: DeliveryService
  spool: Spool
  lifecycle: Lifecycle
  logger: Logger
  uploads: ConcurrencyLimit
  idempotency: Idempotency
  metrics?: Metrics
}

/** Probes and metrics are answered under pressure too: load must not fail liveness. */
const UNSHED = new Set(['/livez', '/readyz', '/metrics'])

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** A caller's X-Request-Id when it is safe to log and forward; a new UUID otherwise. */
function requestId (req: IncomingMessage): string {
  const header = req.headers['x-request-id']
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
}

export async function buildApp (deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // The documents route logs one line per delivery itself; no generic per-request lines.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    requestIdHeader: false,
    genReqId: requestId,
    // Our own onRequest hook answers during shutdown, with problem+json.
    return503OnClosing: false,
    // Deliberate server timeouts: a slow or silent caller cannot hold a connection forever,
    // while a large upload on a slow link still fits in requestTimeout.
    connectionTimeout: config.server.idleTimeoutMs,
    keepAliveTimeout: config.server.keepAliveTimeoutMs,
    requestTimeout: config.server.requestTimeoutMs,
    // Node checks headersTimeout/requestTimeout on this interval (30 s by default).
    // maxHeaderSize: a request line and headers beyond it are refused with 431 before any route runs.
    http: { headersTimeout: config.server.headersTimeoutMs, connectionsCheckingInterval: Math.min(5000, Math.max(250, config.server.headersTimeoutMs / 2)), maxHeaderSize: config.maxHeaderBytes },
    clientErrorHandler,
    // Router errors (bad percent-encoding, an over-long path parameter) as problem+json, quoting nothing.
    frameworkErrors: frameworkErrorHandler
  })
  app.server.maxConnections = config.server.maxConnections
  // An answer given while the body is still arriving must reach the caller: close in stages.
  closeInStages(app.server, { drainMs: config.server.lingerMs, drainBytes: config.server.lingerBytes })
  // Expect: 100-continue: the body is invited only once every check has passed.
  continueOnFirstRead(app.server)

  await app.register(underPressure, {
    maxEventLoopDelay: config.pressure.maxEventLoopDelayMs,
    maxHeapUsedBytes: config.pressure.maxHeapUsedBytes,
    retryAfter: 5,
    pressureHandler: (request, reply, type, value) => {
      if (UNSHED.has(request.url.split('?')[0]!)) return
      request.log.warn({ event: 'shed', type, value }, 'request shed under pressure')
      void reply.header('connection', 'close')
      sendProblem(reply, { code: 'overloaded', status: 503, title: 'Gateway under pressure', detail: `the gateway is overloaded (${type}); the document was not delivered and is safe to resend`, delivered: 'no', retryAfterSeconds: 5 })
    }
  })
  const routes = trackRoutes(app)

  // Hooks run on every request: callback style (no promise, no microtask per hook).
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id)
    const ambiguous = ambiguousHead(request.raw)
    if (ambiguous !== undefined) {
      request.log.info({ event: 'request.ambiguous', code: ambiguous.code }, 'request head refused')
      void reply.header('connection', 'close')
      sendProblem(reply, ambiguous)
      return
    }
    if (deps.lifecycle.draining) {
      void reply.header('connection', 'close')
      sendProblem(reply, { code: 'shutting-down', status: 503, title: 'Shutting down', detail: 'this gateway instance is shutting down; the document was not delivered and is safe to resend', delivered: 'no', retryAfterSeconds: 1 })
      return
    }
    done()
  })
  app.addHook('onSend', (request, reply, payload, done) => {
    // An unread request body (refused early, e.g. 413) would otherwise be drained byte by byte;
    // the connection then closes in stages (http/staged-close.ts).
    // During draining every response closes its connection so the server can finish closing.
    if (!request.raw.complete || deps.lifecycle.draining) void reply.header('connection', 'close')
    done(null, payload)
  })
  // The per-request debug line costs a hook per request; only registered when it can be written.
  if (deps.logger.isLevelEnabled('debug')) {
    app.addHook('onResponse', (request, reply, done) => {
      request.log.debug({ method: request.method, url: request.routeOptions.url, status: reply.statusCode, durationMs: reply.elapsedTime }, 'request completed')
      done()
    })
  }

  registerProblemHandlers(app, routes)
  await registerOpenApi(app)
  await app.register(healthRoutes, { delivery: deps.delivery, lifecycle: deps.lifecycle })
  // With METRICS_PORT the metrics have a listener of their own (gateway.ts) and are not on the API port.
  if (deps.metrics !== undefined && config.metricsPort === undefined) await app.register(metricsRoutes, { metrics: deps.metrics })
  await app.register(documentsRoutes, {
    delivery: deps.delivery,
    spool: deps.spool,
    maxBodyBytes: config.maxBodyBytes,
    memoryBodyBytes: config.memoryBodyBytes,
    uploads: deps.uploads,
    idempotency: deps.idempotency,
    metrics: deps.metrics,
    access: new Access(config.auth),
    deliveryLog: scalarLineLogger(deps.logger)
  })
  return app
}
