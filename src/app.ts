// buildApp(): the gateway as one Fastify instance. Plugins first (each decorates what it
// provides and closes it in its own onClose), then the routes that use them.
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from './config/index.js'
import { logSecurityPosture } from './config/posture.js'
import { clientErrorHandler } from './http/client-errors.js'
import { frameworkErrorHandler } from './http/problems.js'
import auth from './plugins/auth.js'
import delivery from './plugins/delivery.js'
import framing from './plugins/framing.js'
import lifecycle from './plugins/lifecycle.js'
import metrics from './plugins/metrics.js'
import openapi from './plugins/openapi.js'
import outbox from './plugins/outbox.js'
import pressure from './plugins/pressure.js'
import problems from './plugins/problems.js'
import { deliveriesRoutes } from './routes/deliveries.js'
import { documentsRoutes } from './routes/documents.js'
import { healthRoutes } from './routes/health.js'

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** A caller's X-Request-Id when it is safe to log and forward; a new UUID otherwise. */
function requestId (req: IncomingMessage): string {
  const header = req.headers['x-request-id']
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()
}

export async function buildApp (config: Config, logger: Logger): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // The documents route logs one line per delivery itself; no generic per-request lines.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    requestIdHeader: false,
    genReqId: requestId,
    // The lifecycle plugin answers during shutdown, with problem+json.
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
  logSecurityPosture(config, logger)

  await app.register(problems)
  // Before any route: @fastify/swagger documents the routes as they are added.
  await app.register(openapi)
  await app.register(framing, { server: config.server })
  await app.register(pressure, config.pressure)
  await app.register(metrics, { mailboxes: config.mailboxes.map(m => m.name), metricsPort: config.metricsPort, sharedStore: config.redis !== undefined, outbox: config.outbox !== undefined })
  await app.register(auth, { auth: config.auth })
  await app.register(delivery, { config })
  // Store and forward (OUTBOX_DIR, demo mode): decorates `outbox` (null without one).
  await app.register(outbox, { config })
  await app.register(lifecycle, { drainTimeoutMs: config.shutdownTimeoutMs })

  await app.register(healthRoutes)
  await app.register(documentsRoutes, { maxBodyBytes: config.maxBodyBytes, memoryBodyBytes: config.memoryBodyBytes })
  if (app.deliveries !== null) await app.register(deliveriesRoutes, { outbox: app.deliveries, access: app.access })
  return app
}
