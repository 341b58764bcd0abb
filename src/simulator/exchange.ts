// One request/response pair, and the single place where response-side faults are applied.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Fault, Operation } from './options.js'

// After an early error, bodies up to this size are read and discarded so the connection can be reused
// (Tomcat's maxSwallowSize does the same). Larger or unknown-length bodies get the connection closed.
const SWALLOW_LIMIT = 2 * 1024 * 1024
// How long a closing connection keeps discarding input after our FIN (see lingerOnClose).
const LINGER_MS = 2000

export interface SendOptions {
  /** Answer with `Connection: close` and close the connection afterwards. */
  close?: boolean
}

export class Exchange {
  /** Set once a `stallBody` fault used its delay while reading the body. */
  delaySpent = false
  readonly startedAt = Date.now()

  constructor (
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly operation: Operation | undefined,
    readonly fault: Fault | undefined,
    readonly signal: AbortSignal
  ) {}

  get gone (): boolean {
    return this.req.socket.destroyed
  }

  /** Ends the exchange without any response. */
  drop (): void {
    this.req.socket.destroy()
  }

  json (status: number, payload: unknown, options?: SendOptions): Promise<void> {
    return this.send(status, JSON.stringify(payload), 'application/json', options)
  }

  /** CIC error bodies carry a `message` field (as in the sibling Harmony API). */
  error (status: number, message: string, options?: SendOptions): Promise<void> {
    return this.json(status, { message }, options)
  }

  /**
   * Answers a request whose body has not been read (yet): small bodies are swallowed and the
   * connection is kept; large or unknown-length ones, and any body refused for its size, get the
   * connection closed so that no bandwidth is spent on them.
   */
  reject (status: number, message: string): Promise<void> {
    const { headers } = this.req
    const length = headers['transfer-encoding'] !== undefined ? Infinity : Number(headers['content-length'] ?? 0)
    const close = !this.req.complete && length > 0 && (status === 413 || !(length <= SWALLOW_LIMIT))
    return this.error(status, message, { close })
  }

  async send (status: number, body: string, contentType: string, options: SendOptions = {}): Promise<void> {
    const fault = this.fault
    if (fault?.delayMs && !this.delaySpent) {
      this.delaySpent = true
      await sleep(fault.delayMs, undefined, { signal: this.signal })
    }
    if (this.gone) return
    // A drop fault that reaches this point means "do the work, never answer".
    if (fault?.drop) {
      this.drop()
      return
    }
    const payload = Buffer.from(body, 'utf8')
    const headers: OutgoingHttpHeaders = { 'content-type': contentType, 'content-length': payload.length }
    for (const [name, value] of Object.entries(fault?.headers ?? {})) headers[name.toLowerCase()] = value
    if (options.close) {
      headers.connection = 'close'
      lingerOnClose(this.req.socket)
    }
    this.res.writeHead(status, headers)
    if (fault?.truncate) {
      // Full Content-Length announced, half the body sent, then the connection dies.
      this.res.write(payload.subarray(0, payload.length >> 1), () => this.drop())
      return
    }
    this.res.end(payload)
  }
}

/**
 * Node destroys the socket as soon as the FIN of a `Connection: close` response is written. If the
 * client is still sending its body, the kernel then answers with RST, which can make the client lose
 * our response before reading it. So: half-close, keep discarding input for a moment, then destroy
 * (Apache's "lingering close"). Node calls `socket.destroySoon()` for such responses.
 */
function lingerOnClose (socket: Socket): void {
  const target = socket as Socket & { destroySoon(): void }
  target.destroySoon = function destroySoon (this: Socket): void {
    this.end()
    this.resume()
    const timer = setTimeout(() => this.destroy(), LINGER_MS).unref()
    this.once('close', () => clearTimeout(timer))
    this.once('end', () => this.destroy())
  }
}
