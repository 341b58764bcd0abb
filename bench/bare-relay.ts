// The floor of a relay written in Node: node:http in, one undici Pool out, the body piped
// through, the token injected, the path rewritten, the upstream's answer piped back. No
// logging, no digest, no auth, no error mapping: nothing a product needs. The bench runs it
// to show what Node's HTTP stack alone costs per request and per GiB, against which the
// gateway's and the generic proxy's figures can be read.
// Env: BENCH_UPSTREAM_URL, BENCH_UPLOAD_PATH, BENCH_CIC_TOKEN, PORT.
import { createServer } from 'node:http'
import { Pool } from 'undici'

const pool = new Pool(process.env.BENCH_UPSTREAM_URL!, { connections: 64, pipelining: 1 })
const path = process.env.BENCH_UPLOAD_PATH!
const authorization = `Bearer ${process.env.BENCH_CIC_TOKEN!}`

const server = createServer((req, res) => {
  const headers: Record<string, string> = { authorization, 'content-type': 'application/octet-stream' }
  const length = req.headers['content-length']
  if (length !== undefined) headers['content-length'] = length
  const disposition = req.headers['content-disposition']
  if (disposition !== undefined) headers['content-disposition'] = disposition
  pool.request({ method: 'POST', path, headers, body: req }).then(async upstream => {
    res.writeHead(upstream.statusCode, { 'content-type': 'application/json' })
    for await (const chunk of upstream.body) res.write(chunk)
    res.end()
  }, (err: Error) => {
    res.writeHead(502).end(err.message)
  })
})
server.keepAliveTimeout = 65_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${address.port}` })}\n`)
})
process.once('SIGTERM', () => { server.close(); void pool.close() })
