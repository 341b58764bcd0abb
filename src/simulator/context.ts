// State shared by the request handlers of one simulator instance.
import type { Faults } from './faults.js'
import type { TokenIssuer } from './jwt.js'
import type { SimulatorSettings } from './options.js'
import type { Mailbox, Store } from './store.js'

export interface Context {
  settings: SimulatorSettings
  store: Store
  tokens: TokenIssuer
  faults: Faults
  /** Aborted when the simulator closes, to cut injected delays short. */
  signal: AbortSignal
  /** Uploads in progress per username (maxConcurrentUploads). */
  uploading: Map<string, number>
}

const BEARER = /^Bearer +(\S+)\s*$/i

/** The mailbox a bearer token belongs to, or the message of the 401 to send. */
export function authenticate (ctx: Context, authorization: string | undefined): Mailbox | string {
  const match = authorization ? BEARER.exec(authorization) : null
  if (!match) return 'Full authentication is required to access this resource'
  const check = ctx.tokens.verify(match[1]!)
  if (!check.ok) return check.message
  return ctx.store.byUserId(check.claims.sub) ?? 'Invalid token'
}
