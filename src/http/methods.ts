// Which methods a path supports, from the routes as Fastify registers them: the not-found
// handler answers 405 with `Allow` when the path exists under another method.
import type { FastifyInstance } from 'fastify'

export interface RouteTable {
  /** Methods registered for the path (without query), empty when no route has it. */
  allowed: (path: string) => string[]
}

function pattern (url: string): RegExp {
  const source = url
    .split('/')
    .map(part => part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('/')
  return new RegExp(`^${source}$`)
}

/** Must be called before any route is registered: it watches onRoute. */
export function trackRoutes (app: FastifyInstance): RouteTable {
  const routes: Array<{ re: RegExp, methods: string[] }> = []
  app.addHook('onRoute', route => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    routes.push({ re: pattern(route.url), methods })
  })
  return {
    allowed (path) {
      const out = new Set<string>()
      for (const r of routes) if (r.re.test(path)) for (const m of r.methods) out.add(m)
      return [...out].sort()
    }
  }
}
