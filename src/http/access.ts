// Who may call the document routes, and which mailboxes each caller may deliver to.
// Callers present `Authorization: Bearer <key>`; the key's SHA-256 is compared with every
// configured digest in constant time, so neither the comparison nor the position of a match
// tells anything about the keys. Checks run before the body is read: a refused request
// sends nothing to CIC.
import { timingSafeEqual } from 'node:crypto'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import type { AuthConfig, AuthMode } from '../config/index.js'
import { sha256 } from '../config/key-digest.js'
import { ProblemError, sendProblem } from './problems.js'

export interface Caller {
  name: string
  mailboxes: string[] | '*'
}

const BEARER = /^Bearer +([^\s]+) *$/i

export class Access {
  readonly mode: AuthMode
  private readonly digests: Buffer[] = []
  private readonly owners: Caller[] = []

  constructor (auth: AuthConfig) {
    this.mode = auth.mode
    for (const c of auth.callers) {
      const caller = { name: c.name, mailboxes: c.mailboxes }
      for (const d of c.keyDigests) {
        this.digests.push(d)
        this.owners.push(caller)
      }
    }
  }

  get enabled (): boolean {
    return this.mode === 'api-key'
  }

  /** The caller whose key this is, or undefined. Every digest is compared, whatever matches. */
  identify (authorization: string | undefined): Caller | undefined {
    const match = authorization === undefined ? null : BEARER.exec(authorization)
    if (match === null) return undefined
    const presented = sha256(match[1]!)
    let found = -1
    for (let i = 0; i < this.digests.length; i++) {
      if (timingSafeEqual(presented, this.digests[i]!) && found === -1) found = i
    }
    return found === -1 ? undefined : this.owners[found]
  }

  /**
   * onRequest hook for the document routes: 401 problem unless a configured key is presented.
   * Callback style, like every per-request hook: no promise and no microtask per request.
   */
  readonly authenticate = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    if (!this.enabled) return done()
    const header = request.headers.authorization
    const caller = this.identify(header)
    if (caller === undefined) {
      const presented = header !== undefined
      request.log.info({ event: 'auth.refused', reason: presented ? 'unknown key or malformed Authorization' : 'no Authorization header' }, 'caller not authenticated')
      // RFC 6750: a request without credentials gets the bare challenge, a bad key `invalid_token`.
      void reply.header('www-authenticate', presented ? 'Bearer realm="cic-gateway", error="invalid_token"' : 'Bearer realm="cic-gateway"')
      sendProblem(reply, {
        code: 'unauthorized',
        detail: 'send Authorization: Bearer <api key> with a key configured for this gateway; nothing was delivered',
        delivered: 'no'
      })
      return
    }
    request.caller = caller
    // request.log is this request's own child logger (Fastify makes one per request): adding
    // the binding to it costs less than a second child per request.
    const log = request.log as FastifyBaseLogger & { setBindings?: (bindings: Record<string, unknown>) => void }
    if (typeof log.setBindings === 'function') log.setBindings({ caller: caller.name })
    else request.log = request.log.child({ caller: caller.name })
    done()
  }

  /** Throws a 403 problem when the caller may not deliver to `mailbox`. */
  authorize (request: FastifyRequest, mailbox: string): void {
    if (!this.enabled) return
    const caller = request.caller
    if (caller === null || (caller.mailboxes !== '*' && !caller.mailboxes.includes(mailbox))) {
      request.log.info({ event: 'auth.forbidden', mailbox }, 'caller may not deliver to this mailbox')
      throw new ProblemError({
        code: 'mailbox-forbidden',
        detail: 'the API key presented does not allow delivering to this mailbox; nothing was delivered',
        delivered: 'no'
      })
    }
  }
}
