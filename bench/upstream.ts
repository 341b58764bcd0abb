// A minimal CIC upstream for benchmarks: the four partner-mailbox calls, answered like CIC
// (login JSON with a JWT, list envelopes, 201 file resource), as cheaply as possible so
// that it is not what limits a scenario. Bodies are counted and dropped, never kept.
// Chunked uploads are refused with 411 as CIC may do. Standalone process:
//   node --import tsx bench/upstream.ts   (env BENCH_UPSTREAM_PORT, default 0)
// prints {"event":"listening","url":...} on stdout; GET /_bench/stats answers the counters
// (and when the last upload was answered, which times the drain of a gateway's outbox).
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { BENCH_PASSWORD, BENCH_USERNAME } from './credentials.js'

export interface UpstreamStats {
  logins: number
  folders: number
  children: number
  uploads: number
  uploadBytes: number
  refused: number
  /** When the last upload was answered 201 (epoch ms, fractional): the end of an outbox's drain. */
  lastUploadAt: number
}

const stats: UpstreamStats = { logins: 0, folders: 0, children: 0, uploads: 0, uploadBytes: 0, refused: 0, lastUploadAt: 0 }
const userId = randomBytes(8).toString('hex')
const homeId = randomBytes(24).toString('base64url')
const uploadId = randomBytes(24).toString('base64url')
const tokens = new Set<string>()
const idPrefix = randomBytes(12).toString('base64url')
let fileSeq = 0

function b64url (value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** A JWT-shaped token (readable exp, like CIC's); validity is membership in the issued set. */
function issueToken (): string {
  const iat = Math.floor(Date.now() / 1000)
  const token = `${b64url({ alg: 'HS256' })}.${b64url({ sub: userId, iss: 'http://www.cleo.com', iat, exp: iat + 3600, jti: randomBytes(8).toString('hex') })}.${randomBytes(32).toString('base64url')}`
  tokens.add(token)
  return token
}

function send (res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

function authorized (req: IncomingMessage): boolean {
  const header = req.headers.authorization
  return header !== undefined && header.startsWith('Bearer ') && tokens.has(header.slice(7))
}

function folder (id: string, name: string, subspace?: string): Record<string, unknown> {
  return { type: 'folder', space: 'home', ...(subspace !== undefined ? { subspace } : {}), id, name, permissions: subspace !== undefined ? [subspace] : [], _links: { self: { href: `/api/folders/${id}` } }, meta: { lastModified: '2026-01-01T00:00:00.000Z' } }
}

function envelope (resources: unknown[]): string {
  return JSON.stringify({ totalResults: resources.length, startIndex: 0, count: resources.length, resources })
}

const uploadPath = `/api/folders/${uploadId}/files`
const fileHead = '{"space":"home","subspace":"upload","id":"'
const fileTail = (name: string): string => `","parentId":"${uploadId}","name":${JSON.stringify(name)},"length":0,"path":[{"href":"/api/folders/${homeId}","id":"${homeId}","name":"${BENCH_USERNAME}"},{"href":"/api/folders/${uploadId}","id":"${uploadId}","name":"upload"}],"permissions":["overwrite","delete"],"systemProtected":{"delete":false,"rename":false},"_links":{"self":{"href":"/api/files/`
const NAME = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i

function upload (req: IncomingMessage, res: ServerResponse): void {
  if (!authorized(req)) { stats.refused++; res.setHeader('connection', 'close'); return send(res, 401, '{"message":"Invalid token"}') }
  if (req.headers['content-length'] === undefined) { stats.refused++; res.setHeader('connection', 'close'); return send(res, 411, '{"message":"Length Required"}') }
  const name = NAME.exec(req.headers['content-disposition'] ?? '')?.[1]
  if (name === undefined) { stats.refused++; return send(res, 400, '{"message":"Content-Disposition with a valid filename is required"}') }
  const expected = Number(req.headers['content-length'])
  let bytes = 0
  req.on('data', (chunk: Buffer) => { bytes += chunk.length })
  req.on('end', () => {
    if (bytes !== expected) { req.socket.destroy(); return }
    stats.uploads++
    stats.uploadBytes += bytes
    stats.lastUploadAt = performance.timeOrigin + performance.now()
    const id = `${idPrefix}${(++fileSeq).toString(36)}`
    send(res, 201, `${fileHead}${id}${fileTail(name)}${id}"},"parent":{"href":"/api/folders/${uploadId}"}},"meta":{"lastModified":"1970-01-01T00:00:00.000Z"}}`)
  })
}

function readAll (req: IncomingMessage, done: (body: string) => void): void {
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (c: string) => { body += c })
  req.on('end', () => done(body))
}

const server = createServer({ keepAliveTimeout: 5000, requestTimeout: 0 }, (req, res) => {
  const url = req.url ?? '/'
  if (req.method === 'POST' && url === uploadPath) return upload(req, res)
  if (req.method === 'POST' && url === '/api/authentication') {
    return readAll(req, body => {
      stats.logins++
      const form = new URLSearchParams(body)
      if (form.get('grant_type') !== 'password' || form.get('username') !== BENCH_USERNAME || form.get('password') !== BENCH_PASSWORD) return send(res, 401, '{"message":"Invalid username or password"}')
      send(res, 200, JSON.stringify({ token_type: 'bearer', access_token: issueToken(), user_id: userId }))
    })
  }
  req.resume()
  if (req.method === 'GET' && url === '/api/folders') {
    stats.folders++
    if (!authorized(req)) return send(res, 401, '{"message":"Invalid token"}')
    return send(res, 200, envelope([folder(homeId, BENCH_USERNAME)]))
  }
  if (req.method === 'GET' && url.startsWith(`/api/folders/${homeId}/children`)) {
    stats.children++
    if (!authorized(req)) return send(res, 401, '{"message":"Invalid token"}')
    return send(res, 200, envelope([folder(randomBytes(24).toString('base64url'), 'download', 'download'), folder(uploadId, 'upload', 'upload')]))
  }
  if (req.method === 'GET' && url === '/_bench/stats') return send(res, 200, JSON.stringify(stats))
  if (req.method === 'POST' && url === '/_bench/reset') {
    for (const key of Object.keys(stats) as Array<keyof UpstreamStats>) stats[key] = 0
    return send(res, 200, JSON.stringify(stats))
  }
  send(res, 404, '{"message":"Not found"}')
})

server.listen(Number(process.env.BENCH_UPSTREAM_PORT ?? 0), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${port}`, uploadPath })}\n`)
})
process.once('SIGTERM', () => { server.close(); server.closeAllConnections() })
