// The four calls of CIC's partner-mailbox REST API (see shared/CIC-API.md), over undici.
// One method per call; no caching or retrying here (tokens.ts, folders.ts, mailbox.ts do that).
import type { IncomingHttpHeaders } from 'node:http'
import type { Dispatcher } from 'undici'
import type { UploadBody } from './body.js'
import { uploadDisposition } from './disposition.js'
import { CicError, fromTransportError, parseRetryAfter, type CicOperation } from './errors.js'
import { Secrets } from './secrets.js'

export interface CicAccount {
  baseUrl: string
  username: string
  password: string
}

export interface LoginResult {
  accessToken: string
}

export interface CicResource {
  type?: string
  id: string
  name?: string
  space?: string
  subspace?: string
  [key: string]: unknown
}

export interface ListEnvelope {
  totalResults: number
  startIndex: number
  count: number
  resources: CicResource[]
}

export interface UploadResult {
  /** CIC's 201 body, byte for byte, so the caller gets exactly what CIC said. */
  raw: Buffer
  /** The new file's id in CIC. */
  fileId: string
}

/**
 * What a call reads of its cancellation: an AbortSignal has this shape, and so has the
 * cheaper flag the HTTP layer gives each document request (one abort listener per call).
 */
export interface CancelSignal {
  readonly aborted: boolean
  readonly reason: Error | undefined
  addEventListener (type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener (type: 'abort', listener: () => void): void
}

export interface CallOptions {
  requestId?: string
  signal?: CancelSignal
}

/** Told about every finished call (metrics); `status` is undefined when CIC gave no complete answer. */
export type CicCallObserver = (call: { operation: CicOperation, status: number | undefined, durationSeconds: number }) => void

const ERROR_BODY_LIMIT = 64 * 1024
const SUCCESS_BODY_LIMIT = 4 * 1024 * 1024

export class CicClient {
  /**
   * @param secrets every secret the gateway knows (all mailboxes' passwords, caller keys,
   *   current tokens): cut out of any text CIC sends back before it goes into an error.
   */
  constructor (private readonly dispatcher: Dispatcher, private readonly observer?: CicCallObserver, readonly secrets: Secrets = new Secrets()) {}

  async login (account: CicAccount, opts: CallOptions = {}): Promise<LoginResult> {
    // Read once (a password file is read again on every access); a rotated password is a secret too.
    const password = account.password
    this.secrets.add(password)
    // URLSearchParams form-encodes @ & % + in real Cleo passwords correctly.
    const form = new URLSearchParams({ grant_type: 'password', username: account.username, password }).toString()
    const json = await this.callJson('login', account.baseUrl, {
      method: 'POST',
      path: '/api/authentication',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form
    }, opts)
    const token = (json as { access_token?: unknown }).access_token
    if (typeof token !== 'string' || token === '') {
      throw new CicError({ kind: 'protocol', operation: 'login', message: 'CIC login answer has no access_token' })
    }
    this.secrets.addToken(token)
    return { accessToken: token }
  }

  async listFolders (baseUrl: string, token: string, opts: CallOptions = {}): Promise<ListEnvelope> {
    return envelope('folders', await this.callJson('folders', baseUrl, { method: 'GET', path: '/api/folders', headers: bearer(token) }, opts))
  }

  async listChildren (baseUrl: string, token: string, folderId: string, startIndex: number, count: number, opts: CallOptions = {}): Promise<ListEnvelope> {
    const path = `/api/folders/${encodeURIComponent(folderId)}/children?startIndex=${startIndex}&count=${count}`
    return envelope('children', await this.callJson('children', baseUrl, { method: 'GET', path, headers: bearer(token) }, opts))
  }

  async upload (baseUrl: string, token: string, folderId: string, filename: string, body: UploadBody, opts: CallOptions = {}): Promise<UploadResult> {
    const headers: Record<string, string> = {
      ...bearer(token),
      // RFC 6266: ASCII filename= fallback plus filename*=UTF-8'' for anything else.
      'content-disposition': uploadDisposition(filename),
      'content-type': 'application/octet-stream',
      'content-length': String(body.length)
    }
    const raw = await this.call('upload', baseUrl, {
      method: 'POST',
      path: `/api/folders/${encodeURIComponent(folderId)}/files`,
      headers,
      body: body.open()
    }, opts, 201)
    let fileId: unknown
    try {
      fileId = (JSON.parse(raw.toString('utf8')) as { id?: unknown }).id
    } catch {}
    if (typeof fileId !== 'string' || fileId === '') {
      throw new CicError({ kind: 'protocol', operation: 'upload', status: 201, message: 'CIC answered 201 without a readable file resource' })
    }
    return { raw, fileId }
  }

  private async callJson (operation: CicOperation, baseUrl: string, req: Request, opts: CallOptions): Promise<unknown> {
    const raw = await this.call(operation, baseUrl, req, opts, 200)
    try {
      return JSON.parse(raw.toString('utf8'))
    } catch (err) {
      throw new CicError({ kind: 'protocol', operation, message: `CIC ${operation} answer is not JSON`, cause: err })
    }
  }

  /** Sends one request; returns the body when the status is the expected one, else throws a CicError. */
  private async call (operation: CicOperation, baseUrl: string, req: Request, opts: CallOptions, expected: number): Promise<Buffer> {
    if (this.observer === undefined) return await this.send(operation, baseUrl, req, opts, expected)
    const started = process.hrtime.bigint()
    let status: number | undefined
    try {
      const body = await this.send(operation, baseUrl, req, opts, expected)
      status = expected
      return body
    } catch (err) {
      // A CIC answer read in full carries its status; a transport failure or cut-short answer has none.
      if (err instanceof CicError && err.kind === 'status') status = err.status
      throw err
    } finally {
      this.observer({ operation, status, durationSeconds: Number(process.hrtime.bigint() - started) / 1e9 })
    }
  }

  private async send (operation: CicOperation, baseUrl: string, req: Request, opts: CallOptions, expected: number): Promise<Buffer> {
    // A token from elsewhere (another replica's login, via a shared store) is known from its first use.
    const auth = req.headers.authorization
    if (auth !== undefined) this.secrets.addToken(auth.slice(BEARER.length))
    const headers = opts.requestId !== undefined ? { ...req.headers, 'x-request-id': opts.requestId } : req.headers
    const answer = await exchange(this.dispatcher, { origin: baseUrl, method: req.method, path: req.path, headers, body: req.body }, opts.signal, expected, operation)
    if (answer.error === undefined && answer.statusCode === expected) return answer.body
    if (answer.statusCode === undefined) throw fromTransportError(answer.error, operation, opts.signal)
    if (answer.statusCode !== expected) {
      // CIC's error body is never forwarded (it may echo what was sent); a little was read for the log, the rest dropped.
      // It may echo the password or token we sent, or any other secret the gateway holds: all are cut out before it is logged or shown.
      const message = this.scrub(answer.error === undefined ? cicMessage(answer.body) : undefined, req)
      throw new CicError({
        kind: 'status',
        operation,
        status: answer.statusCode,
        retryAfterSeconds: parseRetryAfter(answer.headers?.['retry-after']),
        message: `CIC answered ${answer.statusCode} to ${operation}${message !== undefined ? `: ${message}` : ''}`
      })
    }
    // Truncated or reset answer: for an upload, CIC may hold the file while we cannot confirm it.
    const e = fromTransportError(answer.error, operation, opts.signal)
    throw new CicError({ kind: e.kind === 'aborted' ? 'aborted' : 'protocol', operation, status: answer.statusCode, message: `CIC's ${answer.statusCode} answer to ${operation} was cut short`, code: e.code, cause: answer.error })
  }

  private scrub (message: string | undefined, req: Request): string | undefined {
    if (message === undefined) return undefined
    // Cut after scrubbing, so a secret is never half-kept at the cut.
    return this.secrets.scrub(message, sentSecrets(req)).slice(0, 200)
  }
}

const BEARER = 'Bearer '

interface Request {
  method: 'GET' | 'POST'
  path: string
  headers: Record<string, string>
  body?: Dispatcher.DispatchOptions['body']
}

function bearer (token: string): Record<string, string> {
  return { authorization: `${BEARER}${token}` }
}

function envelope (operation: CicOperation, json: unknown): ListEnvelope {
  const e = json as Partial<ListEnvelope> | null
  if (e === null || typeof e !== 'object' || !Array.isArray(e.resources)) {
    throw new CicError({ kind: 'protocol', operation, message: `CIC ${operation} answer is not a list envelope` })
  }
  return {
    totalResults: typeof e.totalResults === 'number' ? e.totalResults : e.resources.length,
    startIndex: typeof e.startIndex === 'number' ? e.startIndex : 0,
    count: typeof e.count === 'number' ? e.count : e.resources.length,
    resources: e.resources.filter((r): r is CicResource => r !== null && typeof r === 'object' && typeof (r as CicResource).id === 'string')
  }
}

/** The secrets a request carries (its bearer token, or the password of a login form), should the shared list miss them. */
function sentSecrets (req: Request): string[] {
  const out: string[] = []
  const auth = req.headers.authorization
  if (auth !== undefined) out.push(auth.slice(BEARER.length))
  if (typeof req.body === 'string') {
    const password = new URLSearchParams(req.body).get('password')
    if (password !== null) out.push(password)
  }
  return out.filter(s => s !== '')
}

function cicMessage (raw: Buffer): string | undefined {
  try {
    const m = (JSON.parse(raw.toString('utf8')) as { message?: unknown }).message
    return typeof m === 'string' ? m : undefined
  } catch {
    return undefined
  }
}

interface Answer {
  /** Undefined when the request failed before CIC's status line. */
  statusCode?: number
  headers?: IncomingHttpHeaders
  body: Buffer
  /** Set when the exchange failed (before or after the status line). */
  error?: unknown
}

/**
 * One request through undici's dispatch(), the answer collected into a Buffer: no response
 * stream, no async iteration, no per-request abort bookkeeping beyond one listener (this
 * runs for every upload; dispatcher.request() costs a readable stream and its machinery).
 * The expected status may bring up to SUCCESS_BODY_LIMIT bytes, any other ERROR_BODY_LIMIT.
 */
async function exchange (dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, signal: CancelSignal | undefined, expected: number, operation: CicOperation): Promise<Answer> {
  return await new Promise<Answer>(resolve => {
    const chunks: Buffer[] = []
    let size = 0
    let limit = ERROR_BODY_LIMIT
    let statusCode: number | undefined
    let headers: IncomingHttpHeaders | undefined
    let controller: Dispatcher.DispatchController | undefined
    let settled = false
    const onAbort = (): void => { controller?.abort(signal?.reason ?? new Error('aborted')) }
    const settle = (error?: unknown): void => {
      if (settled) return
      settled = true
      signal?.removeEventListener('abort', onAbort)
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)
      resolve(error === undefined ? { statusCode, headers, body } : { statusCode, headers, body, error })
    }
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart (c) {
        controller = c
        if (signal?.aborted === true) c.abort(signal.reason ?? new Error('aborted'))
      },
      onResponseStart (_c, status, responseHeaders) {
        statusCode = status
        headers = responseHeaders
        if (status === expected) limit = SUCCESS_BODY_LIMIT
      },
      onResponseData (c, chunk) {
        size += chunk.length
        if (size > limit) {
          c.abort(new CicError({ kind: 'protocol', operation, message: `CIC answer exceeds ${limit} bytes` }))
          return
        }
        chunks.push(chunk)
      },
      onResponseEnd () { settle() },
      onResponseError (_c, err) { settle(err) }
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      dispatcher.dispatch(options, handler)
    } catch (err) {
      settle(err)
    }
  })
}
