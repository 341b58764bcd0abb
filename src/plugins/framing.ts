// What every connection and request gets before any route: the connection cap, the staged
// close of an answer given while the body still arrives, Expect: 100-continue only once the
// body is wanted, the request id on every answer, and the refusal of ambiguous heads.
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { continueOnFirstRead } from '../http/expect-continue.js'
import { ambiguousHead } from '../http/framing.js'
import { sendProblem } from '../http/problems.js'
import { closeInStages } from '../http/staged-close.js'
import type { ServerLimits } from '../config/index.js'

export interface FramingOptions {
  server: ServerLimits
}

export default fp<FramingOptions>(async (app, opts) => {
  app.server.maxConnections = opts.server.maxConnections
  closeInStages(app.server, { drainMs: opts.server.lingerMs, drainBytes: opts.server.lingerBytes })
  continueOnFirstRead(app.server)

  // Hooks run on every request: callback style (no promise, no microtask per hook).
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id)
    const ambiguous = ambiguousHead(request.raw)
    if (ambiguous === undefined) return done()
    request.log.info({ event: 'request.ambiguous', code: ambiguous.code }, 'request head refused')
    void reply.header('connection', 'close')
    sendProblem(reply, ambiguous)
  })
  app.addHook('onSend', (request, reply, payload, done) => {
    // An unread request body (refused early, e.g. 413) would otherwise be drained byte by
    // byte; the connection closes in stages instead (http/staged-close.ts).
    if (!request.raw.complete) void reply.header('connection', 'close')
    done(null, payload)
  })
  // The per-request debug line costs a hook per request; only registered when it can be written.
  if ((app.log as unknown as Logger).isLevelEnabled('debug')) {
    app.addHook('onResponse', (request, reply, done) => {
      request.log.debug({ method: request.method, url: request.routeOptions.url, status: reply.statusCode, durationMs: reply.elapsedTime }, 'request completed')
      done()
    })
  }
}, { name: 'framing', fastify: '5.x' })
