// Request heads that two HTTP implementations can read differently: refused with 400 and the
// connection closed, before any route runs, so no proxy in front of the gateway and the
// gateway can disagree about who is calling or where a message ends.
import type { IncomingMessage } from 'node:http'
import type { Problem } from './problems.js'

const DUPLICATE_AUTHORIZATION: Problem = {
  code: 'authorization-duplicated',
  detail: 'the request has more than one Authorization header: send exactly one; nothing was delivered',
  delivered: 'no'
}

const HTTP10_TRANSFER_ENCODING: Problem = {
  code: 'malformed-request',
  detail: 'an HTTP/1.0 request cannot carry Transfer-Encoding (RFC 9112 §6.1): send HTTP/1.1 or a Content-Length; nothing was delivered',
  delivered: 'no'
}

/** The 400 problem for an ambiguous request head, or undefined. The connection must be closed after it. */
export function ambiguousHead (req: IncomingMessage): Problem | undefined {
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing, whatever Content-Length says.
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined) return HTTP10_TRANSFER_ENCODING
  // Node keeps the first of two Authorization headers; a proxy may check the last (RFC 9110 §5.3: not a list header).
  if (countHeader(req.rawHeaders, 'authorization') > 1) return DUPLICATE_AUTHORIZATION
  return undefined
}

function countHeader (rawHeaders: string[], lowerName: string): number {
  let n = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) n++
  }
  return n
}
