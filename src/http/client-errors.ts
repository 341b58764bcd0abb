// Requests Node's HTTP parser refuses before Fastify sees them (oversized head, malformed
// request line or method, header timeout) still get problem+json, and nothing of the input.
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { PROBLEM_CONTENT_TYPE, problemType } from './problems.js'

interface ParserError extends Error {
  code?: string
}

function classify (err: ParserError): { status: number, code: string, title: string, detail: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'headers-too-large', title: 'Request headers too large', detail: 'the request line and headers exceed MAX_HEADER_BYTES' }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return { status: 408, code: 'request-timeout', title: 'Request timeout', detail: 'the request was not received in time' }
    case 'HPE_INVALID_METHOD':
      // RFC 9110: a method the server does not recognise at all is 501; known ones on the wrong path get 405.
      return { status: 501, code: 'method-not-implemented', title: 'Method not implemented', detail: 'the request method is not recognised' }
    default:
      return { status: 400, code: 'malformed-request', title: 'Malformed request', detail: 'the request is not valid HTTP/1.1' }
  }
}

export function clientErrorHandler (this: FastifyInstance, err: ParserError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const p = classify(err)
  this.log.debug({ event: 'client.error', code: err.code, status: p.status }, 'request refused by the HTTP parser')
  const body = JSON.stringify({ type: problemType(p.code), title: p.title, status: p.status, detail: p.detail, requestId: randomUUID(), delivered: 'no' })
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${p.status} ${STATUS_CODES[p.status] ?? ''}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(err)
}
