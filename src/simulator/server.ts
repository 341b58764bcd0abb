// The simulator's HTTP server: routing, call accounting, fault dispatch and the test-facing handle.
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { children, folders, login } from './api.js'
import { discardBody } from './body.js'
import type { Context } from './context.js'
import { control } from './control.js'
import { Exchange } from './exchange.js'
import { Faults } from './faults.js'
import type { CallCounts, MailboxInfo, RequestRecord, Simulator } from './handle.js'
import { TokenIssuer } from './jwt.js'
import {
  checkFault,
  checkSetting,
  DEMO_PASSWORD,
  DEMO_USERNAME,
  isOperation,
  OPERATIONS,
  resolveSettings,
  type Fault,
  type Operation,
  type SimulatorOptions,
  type SimulatorSettings
} from './options.js'
import { Store, type StoredFile } from './store.js'
import { upload } from './upload.js'

export type { CallCounts, MailboxInfo, RequestRecord, Simulator } from './handle.js'

const REQUEST_LOG_SIZE = 1000
const FOLDER_ROUTE = /^\/api\/folders\/([^/]+)\/(children|files)$/
const METHODS: Record<Operation, string> = { login: 'POST', folders: 'GET', children: 'GET', upload: 'POST' }

type Route =
  | { operation: 'login' | 'folders' }
  | { operation: 'children' | 'upload', folderId: string }
  | { status: 404 | 405, allow?: string }

function matchRoute (method: string, path: string): Route {
  let route: Route
  if (path === '/api/authentication') {
    route = { operation: 'login' }
  } else if (path === '/api/folders') {
    route = { operation: 'folders' }
  } else {
    const match = FOLDER_ROUTE.exec(path)
    if (match === null) return { status: 404 }
    let folderId: string
    try {
      folderId = decodeURIComponent(match[1] ?? '')
    } catch {
      return { status: 404 }
    }
    route = match[2] === 'children' ? { operation: 'children', folderId } : { operation: 'upload', folderId }
  }
  const allow = METHODS[route.operation]
  return method === allow ? route : { status: 405, allow }
}

function zeroCalls (): CallCounts {
  return Object.fromEntries(OPERATIONS.map((op) => [op, 0])) as CallCounts
}

function formatUrl (address: AddressInfo): string {
  let host = address.address
  // A wildcard address is not something a client can connect to.
  if (host === '0.0.0.0') host = '127.0.0.1'
  else if (host === '::') host = '::1'
  return `http://${address.family === 'IPv6' ? `[${host}]` : host}:${address.port}`
}

class CicSimulator implements Simulator {
  url = ''
  port = 0
  readonly #server: Server
  readonly #ctx: Context
  readonly #abort = new AbortController()
  readonly #controlApi: boolean
  #calls = zeroCalls()
  #requests: RequestRecord[] = []
  #closing: Promise<void> | undefined

  constructor (options: SimulatorOptions) {
    const settings = resolveSettings(options)
    this.#ctx = {
      settings,
      store: new Store(options.accounts ?? [{ username: DEMO_USERNAME, password: DEMO_PASSWORD }]),
      tokens: new TokenIssuer(() => settings.singleSession),
      faults: new Faults(settings.randomFaults),
      signal: this.#abort.signal,
      uploading: new Map()
    }
    this.#controlApi = options.controlApi ?? true
    // No request timeout: a 1 GiB body from a slow client is legitimate here.
    this.#server = createServer({ requestTimeout: 0, keepAliveTimeout: 5000 }, (req, res) => this.#onRequest(req, res))
  }

  async listen (host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen({ host, port }, () => {
        this.#server.removeListener('error', reject)
        resolve()
      })
    })
    const address = this.#server.address() as AddressInfo
    this.port = address.port
    this.url = formatUrl(address)
  }

  close (): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#abort.abort()
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
    return this.#closing
  }

  get calls (): CallCounts {
    return { ...this.#calls }
  }

  get requests (): RequestRecord[] {
    return [...this.#requests]
  }

  get settings (): SimulatorSettings {
    return structuredClone(this.#ctx.settings)
  }

  files (username?: string): StoredFile[] {
    return this.#ctx.store.files(username)
  }

  mailbox (username: string): MailboxInfo {
    const m = this.#ctx.store.mailbox(username)
    return { username, userId: m.userId, homeId: m.home.id, downloadId: m.download.id, uploadId: m.upload.id }
  }

  revokeAllTokens (): void {
    this.#ctx.tokens.revokeAll()
  }

  setPassword (username: string, password: string): void {
    this.#ctx.store.mailbox(username).password = password
  }

  setTokenLifetime (seconds: number): void {
    this.setOption('tokenLifetimeSeconds', seconds)
  }

  recreateFolders (username: string): void {
    this.#ctx.store.recreateFolders(username)
  }

  addChildren (username: string, count: number): void {
    this.#ctx.store.addChildren(username, count)
  }

  setOption<K extends keyof SimulatorSettings> (name: K, value: SimulatorSettings[K]): void {
    const checked = checkSetting(name, value)
    this.#ctx.settings[name] = checked
    if (name === 'randomFaults') this.#ctx.faults.setRandom(checked as SimulatorSettings['randomFaults'])
  }

  inject (operation: Operation, fault: Fault): void {
    if (!isOperation(operation)) throw new TypeError(`unknown operation ${String(operation)}`)
    this.#ctx.faults.inject(operation, checkFault(fault))
  }

  clearFaults (): void {
    this.#ctx.faults.clear()
  }

  pendingFaults (): Record<Operation, Fault[]> {
    return this.#ctx.faults.pending()
  }

  reset (): void {
    this.#ctx.store.clearFiles()
    this.#calls = zeroCalls()
    this.#requests = []
    this.#ctx.faults.clear()
    this.#ctx.faults.reseed()
  }

  #onRequest (req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const method = req.method ?? 'GET'

    if (this.#controlApi && path.startsWith('/_sim/')) {
      const ex = new Exchange(req, res, undefined, undefined, this.#ctx.signal)
      control(this, ex, path).catch((error: unknown) => this.#fail(ex, error))
      return
    }

    const route = matchRoute(method, path)
    const operation = 'operation' in route ? route.operation : undefined
    const fault = operation && this.#ctx.faults.take(operation)
    const record: RequestRecord = { operation: operation ?? 'unknown', method, path: url, headers: { ...req.headers }, at: Date.now(), ...(fault ? { fault } : {}) }
    this.#record(record)
    res.once('finish', () => { record.status = res.statusCode })
    const ex = new Exchange(req, res, operation, fault, this.#ctx.signal)

    if (!('operation' in route)) {
      if (route.allow) res.setHeader('allow', route.allow)
      ex.reject(route.status, route.status === 404 ? 'Not found' : 'Method not allowed').catch((error: unknown) => this.#fail(ex, error))
      return
    }
    this.#calls[route.operation]++
    this.#dispatch(ex, route, new URLSearchParams(q === -1 ? '' : url.slice(q + 1))).catch((error: unknown) =>
      this.#fail(ex, error)
    )
  }

  async #dispatch (ex: Exchange, route: Exclude<Route, { status: number }>, query: URLSearchParams): Promise<void> {
    const fault = ex.fault
    if (fault?.drop === 'immediately' || (fault?.drop === 'mid-body' && route.operation !== 'upload')) {
      return ex.drop()
    }
    if (fault?.status !== undefined) {
      // The request is read in full first, as a server that fails after accepting it would.
      await discardBody(ex.req)
      const body = fault.body ?? JSON.stringify({ message: STATUS_CODES[fault.status] ?? 'Error' })
      return ex.send(fault.status, body, looksLikeJson(body) ? 'application/json' : 'text/plain; charset=utf-8')
    }
    const ctx = this.#ctx
    switch (route.operation) {
      case 'login':
        return login(ctx, ex)
      case 'folders':
        return folders(ctx, ex, query)
      case 'children':
        return children(ctx, ex, route.folderId, query)
      case 'upload':
        return upload(ctx, ex, route.folderId)
    }
  }

  #record (entry: RequestRecord): void {
    if (this.#requests.push(entry) > REQUEST_LOG_SIZE) this.#requests.shift()
  }

  #fail (ex: Exchange, error: unknown): void {
    // An aborted delay only means the simulator is closing.
    if (!(error instanceof Error && error.name === 'AbortError')) {
      process.stderr.write(`${JSON.stringify({ msg: 'CIC simulator error', err: String(error) })}\n`)
    }
    if (ex.res.headersSent || ex.gone || this.#abort.signal.aborted) ex.drop()
    else ex.error(500, 'Internal Server Error', { close: true }).catch(() => ex.drop())
  }
}

function looksLikeJson (body: string): boolean {
  try {
    JSON.parse(body)
    return true
  } catch {
    return false
  }
}

/** Starts a simulator; `port: 0` (the default) picks a free port. */
export async function startSimulator (options: SimulatorOptions = {}): Promise<Simulator> {
  const simulator = new CicSimulator(options)
  await simulator.listen(options.host ?? '127.0.0.1', options.port ?? 0)
  return simulator
}
