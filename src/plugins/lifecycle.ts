// Shutdown in stages, so a rolling update loses no document. main.ts calls beginShutdown()
// on SIGTERM: /readyz fails at once and the pod leaves the Service's endpoints while it
// still serves. After the delay main.ts closes the app: from then on new requests get 503
// with Connection: close, uploads in flight finish (up to the timeout), and the other
// plugins' onClose hooks close what they opened.
import fp from 'fastify-plugin'
import { sendProblem } from '../http/problems.js'

export interface Lifecycle {
  /** SIGTERM received: /readyz answers 503, requests are still served. */
  readonly shuttingDown: boolean
  /** Closing: new requests get 503 with Connection: close; in-flight ones finish. */
  readonly draining: boolean
  beginShutdown: () => void
}

declare module 'fastify' {
  interface FastifyInstance {
    lifecycle: Lifecycle
  }
}

export default fp<{ drainTimeoutMs: number }>(async (app, opts) => {
  const state = { shuttingDown: false, draining: false }
  app.decorate('lifecycle', {
    get shuttingDown () { return state.shuttingDown },
    get draining () { return state.draining },
    beginShutdown () { state.shuttingDown = true }
  })

  app.addHook('onRequest', (_request, reply, done) => {
    if (!state.draining) return done()
    void reply.header('connection', 'close')
    sendProblem(reply, { code: 'shutting-down', detail: 'this gateway instance is shutting down; the document was not delivered and is safe to resend', delivered: 'no', retryAfterSeconds: 1 })
  })
  app.addHook('onSend', (_request, reply, payload, done) => {
    // While draining every answer closes its connection, so the server can finish closing.
    if (state.draining) void reply.header('connection', 'close')
    done(null, payload)
  })
  app.addHook('preClose', async () => {
    state.shuttingDown = true
    state.draining = true
    app.log.info({ event: 'shutdown', phase: 'draining', inFlight: app.uploads.active }, 'new requests refused; waiting for in-flight uploads')
    if (!await app.uploads.idle(opts.drainTimeoutMs)) {
      app.log.warn({ event: 'shutdown', phase: 'deadline', inFlight: app.uploads.active }, 'shutdown deadline reached with uploads in flight')
    }
  })
}, { name: 'lifecycle', dependencies: ['delivery'], fastify: '5.x' })
