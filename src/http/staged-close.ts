// Closing a connection whose request body is still arriving without losing the answer
// (RFC 9112 §9.6; Apache's "lingering close").
//
// When the gateway answers before the body has arrived (401, 403, 404, 413, 503, ...), the
// answer carries `Connection: close` and Node ends it with `socket.destroySoon()`: FIN, then
// destroy once written. The client is usually still sending; its bytes arrive at a closed
// socket, the kernel answers them with RST, and the RST makes the client's kernel drop our
// answer before the client read it (Python's urllib, which reads only after sending
// everything, loses it every time; Node's http client often). Instead, for such a socket:
//   1. stop reading for the application: the HTTP parser is detached, so nothing more on
//      this connection is parsed or run (no request pipelined behind the refused body);
//   2. half-close: FIN after the answer (the client sees the end of our side);
//   3. keep reading and discarding what the client still sends, until it closes its side,
//      or `drainBytes` have been discarded, or `drainMs` have passed;
//   4. then destroy.
// The bounds keep the cost of a refused caller small: at most `drainBytes` read into
// nothing, and the connection held at most `drainMs` after the answer (SERVER_LINGER_BYTES,
// SERVER_LINGER_SECONDS: 128 MiB and 5 s by default, so a client posting 64 MiB on a fast
// link, or sending 25 MB/s for 5 s, still reads its answer; `drainMs` 0 closes at once).
import type { Server } from 'node:http'
import type { Socket } from 'node:net'

export interface StagedCloseOptions {
  /** Longest time a closing connection keeps discarding input after the answer. */
  drainMs: number
  /** Most bytes discarded after the answer; past them the connection is dropped. */
  drainBytes: number
}

/** Node's internal view of a server socket (node:_http_server); every field is checked before use. */
interface HttpSocket extends Socket {
  parser?: { incoming?: { complete?: boolean } | null, _consumed?: boolean, unconsume?: () => void } | null
  _paused?: boolean
  _handle?: { reading?: boolean, readStart?: () => number } | null
}

/**
 * Makes every connection of `server` close in stages when Node closes it after an answer
 * while request bytes may still be on their way. Connections whose request was read to the
 * end close as before.
 */
export function closeInStages (server: Server, opts: StagedCloseOptions): void {
  server.on('connection', (socket: HttpSocket) => {
    const destroySoon = socket.destroySoon
    if (typeof destroySoon !== 'function') return
    socket.destroySoon = function stagedDestroySoon (this: HttpSocket): void {
      if (mayStillSend(this)) linger(this, opts)
      else destroySoon.call(this)
    }
  })
}

/** True unless the request on this connection is known to have arrived whole. */
function mayStillSend (socket: HttpSocket): boolean {
  const parser = socket.parser
  if (parser === undefined || parser === null) return true
  const incoming = parser.incoming
  // Node clears `incoming` once a request was read to its end.
  return incoming !== undefined && incoming !== null && incoming.complete !== true
}

function linger (socket: HttpSocket, opts: StagedCloseOptions): void {
  if (socket.destroyed) return
  detachParser(socket)
  let drained = 0
  const timer = setTimeout(() => socket.destroy(), opts.drainMs)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
  // The client closed its side: nothing more comes; done once our answer is out.
  socket.once('end', () => {
    if (socket.writableFinished) socket.destroy()
    else socket.once('finish', () => socket.destroy())
  })
  socket.on('data', (chunk: Buffer) => {
    drained += chunk.length
    if (drained > opts.drainBytes) socket.destroy()
  })
  socket.on('error', () => socket.destroy())
  // FIN once the answer is written; reading goes on.
  socket.end()
  socket.resume()
  if (opts.drainMs <= 0) socket.destroy()
}

/**
 * Takes the connection away from Node's HTTP parser, as Node itself does before handing a
 * socket to an `upgrade` listener: the parser stops consuming the socket's reads, and its
 * `data`/`end` listeners are removed, so the bytes still arriving are discarded unparsed.
 */
function detachParser (socket: HttpSocket): void {
  const parser = socket.parser
  if (parser !== undefined && parser !== null && parser._consumed === true && typeof parser.unconsume === 'function') {
    parser.unconsume()
    parser._consumed = false
  }
  for (const event of ['data', 'end'] as const) socket.removeAllListeners(event)
  // Node's pause/resume bridges for a consumed socket; without the parser they would only stall reading.
  for (const event of ['pause', 'resume'] as const) {
    for (const listener of socket.listeners(event)) {
      const name = (listener as { name?: string }).name
      if (name === 'onSocketPause' || name === 'onSocketResume') socket.off(event, listener as () => void)
    }
  }
  socket._paused = false
  // While consumed, the socket's own stream never saw a read end: start the handle reading
  // again directly, as Node's resume bridge does (socket.resume() alone would wait forever).
  const handle = socket._handle
  if (handle !== undefined && handle !== null && handle.reading !== true && typeof handle.readStart === 'function') {
    handle.reading = true
    handle.readStart()
  }
}
