// Requests Node's HTTP parser refuses before Fastify sees them (oversized head, malformed
// request line or method, header timeout) still get problem+json, and nothing of the input.
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { PROBLEM_CONTENT_TYPE, problemBody, type Problem } from './problems.js'

interface ParserError extends Error {
  code?: string
}

function classify (err: ParserError): Problem {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'headers-too-large', detail: 'the request line and headers exceed MAX_HEADER_BYTES', delivered: 'no' }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return { code: 'request-timeout', detail: 'the request was not received in time', delivered: 'no' }
    case 'HPE_INVALID_METHOD':
      // RFC 9110: a method the server does not recognise at all is 501; known ones on the wrong path get 405.
      return { code: 'method-not-implemented', detail: 'the request method is not recognised', delivered: 'no' }
    default:
      return { code: 'malformed-request', detail: 'the request is not valid HTTP/1.1', delivered: 'no' }
  }
}

export function clientErrorHandler (this: FastifyInstance, err: ParserError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const { status, body: problem } = problemBody(classify(err))
  this.log.debug({ event: 'client.error', code: err.code, status }, 'request refused by the HTTP parser')
  const body = JSON.stringify({ ...problem, requestId: randomUUID() })
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy(err)
}
