// The proxy a team would otherwise hand-roll: Fastify + @fastify/reply-from, a static CIC
// bearer token injected, /documents rewritten to the upload folder's path. No digest, no
// token cache, no retries, no idempotency. Benchmark-only (a dev dependency).
// Logging as in the gateway: pino at info, one line per request (reply-from's own "fetching
// from remote server"; Fastify's request lines are off). Env: BENCH_UPSTREAM_URL, BENCH_UPLOAD_PATH, BENCH_CIC_TOKEN, PORT.
import replyFrom from '@fastify/reply-from'
import Fastify from 'fastify'

const upstream = process.env.BENCH_UPSTREAM_URL!
const uploadPath = process.env.BENCH_UPLOAD_PATH!
const authorization = `Bearer ${process.env.BENCH_CIC_TOKEN!}`

const app = Fastify({ logger: { level: 'info' }, disableRequestLogging: true })
// Bodies are relayed as streams, never parsed: the payload stream itself becomes the body.
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', (_request, payload, done) => { done(null, payload) })
await app.register(replyFrom, { base: upstream, undici: { connections: 64, pipelining: 1 } })

app.post('/documents', (request, reply) => {
  void reply.from(uploadPath, { rewriteRequestHeaders: (_req, headers) => ({ ...headers, authorization }) })
})

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
process.stdout.write(`${JSON.stringify({ event: 'listening', url: address })}\n`)
process.once('SIGTERM', () => { void app.close() })
