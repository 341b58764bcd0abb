// `Expect: 100-continue`: the caller waits for `100 Continue` before sending its body.
//
// Node answers 100 itself as soon as the headers arrive, before any check, so a wrong key
// was invited to send its whole body and only then refused. With a `checkContinue` listener
// Node leaves it to us: the request goes to Fastify as usual, and `100 Continue` is written
// when the gateway first reads the body. The gateway reads a body only after every check
// that can refuse it has passed (authentication, the caller's mailboxes, the mailbox
// existing, MAX_BODY_BYTES against Content-Length, the upload cap, the filename, the
// Idempotency-Key), so a refused request gets its final answer and never a 100; there is no
// second copy of those checks here that could disagree with the route.
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

export function continueOnFirstRead (server: Server): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const read = req._read
    req._read = function invitingRead (this: IncomingMessage, size: number): void {
      req._read = read
      // Once a final answer has started (refused, then drained by Node), a 100 is too late.
      if (!res.headersSent && !res.writableEnded && !res.destroyed) res.writeContinue()
      read.call(this, size)
    }
    server.emit('request', req, res)
  })
}
