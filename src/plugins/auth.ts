// Who is calling: the configured API keys (http/access.ts). Decorates `access` and, per
// request, `caller` (null until authenticated), declared up front so requests keep one shape.
import fp from 'fastify-plugin'
import type { AuthConfig } from '../config/index.js'
import { Access, type Caller } from '../http/access.js'

declare module 'fastify' {
  interface FastifyInstance {
    access: Access
  }
  interface FastifyRequest {
    /** The authenticated caller; null when authentication is off. */
    caller: Caller | null
  }
}

export default fp<{ auth: AuthConfig }>(async (app, opts) => {
  app.decorate('access', new Access(opts.auth))
  app.decorateRequest('caller', null)
}, { name: 'auth', fastify: '5.x' })
