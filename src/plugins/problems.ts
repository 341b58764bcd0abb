// Every error answer is problem+json (RFC 9457): the error and not-found handlers, and the
// route table that tells a 405 from a 404. Registered first, so it sees every route.
import fp from 'fastify-plugin'
import { trackRoutes } from '../http/methods.js'
import { registerProblemHandlers } from '../http/problems.js'

export default fp(async (app) => {
  registerProblemHandlers(app, trackRoutes(app))
}, { name: 'problems', fastify: '5.x' })
