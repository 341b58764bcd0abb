// HS256 bearer tokens shaped like the ones CIC issues (see the walkthrough's sample token).
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'

export const TOKEN_ISSUER = 'http://www.cleo.com'

export interface TokenClaims {
  sub: string
  cycleId: string
  iss: string
  omniId: string
  exp: number
  iat: number
  AccessType: string
  jti: string
}

export type TokenCheck =
  | { ok: true, claims: TokenClaims }
  | { ok: false, message: string }

// Secrets retired by revokeAll() are remembered so that a revoked token can be told apart from a forged one.
const RETIRED_SECRETS_KEPT = 16
const HEADER = base64url(JSON.stringify({ alg: 'HS256' }))

function base64url (text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url')
}

function sign (secret: Buffer, data: string): Buffer {
  return createHmac('sha256', secret).update(data).digest()
}

export class TokenIssuer {
  #secret = randomBytes(32)
  #retired: Buffer[] = []
  /** The jti of each user's latest token, for the single-session mode (one entry per account). */
  #latest = new Map<string, string>()
  readonly #singleSession: () => boolean

  /** `singleSession` is read on every check, so the setting can change while running. */
  constructor (singleSession: () => boolean = () => false) {
    this.#singleSession = singleSession
  }

  /** `exp = iat + lifetimeSeconds`, both in whole seconds as JWT NumericDate. */
  issue (userId: string, lifetimeSeconds: number, nowMs = Date.now()): string {
    const iat = Math.floor(nowMs / 1000)
    const claims: TokenClaims = {
      sub: userId,
      cycleId: 'A',
      iss: TOKEN_ISSUER,
      omniId: userId,
      exp: iat + lifetimeSeconds,
      iat,
      AccessType: 'DEFAULT',
      jti: randomUUID()
    }
    this.#latest.set(userId, claims.jti)
    const data = `${HEADER}.${base64url(JSON.stringify(claims))}`
    return `${data}.${sign(this.#secret, data).toString('base64url')}`
  }

  /**
   * Expiry has whole-second granularity with one second of leeway: a token is accepted until
   * `(exp + 1) * 1000` ms, so it always lives at least `lifetimeSeconds` and is surely
   * rejected `lifetimeSeconds + 1` s after it was issued.
   */
  verify (token: string, nowMs = Date.now()): TokenCheck {
    const parts = token.split('.')
    if (parts.length !== 3) return { ok: false, message: 'Invalid token' }
    const [header, payload, signature] = parts as [string, string, string]
    if (header !== HEADER) return { ok: false, message: 'Invalid token' }
    const given = Buffer.from(signature, 'base64url')
    const data = `${header}.${payload}`
    if (!matches(given, sign(this.#secret, data))) {
      const revoked = this.#retired.some((secret) => matches(given, sign(secret, data)))
      return { ok: false, message: revoked ? 'Token has been revoked' : 'Invalid token signature' }
    }
    let claims: TokenClaims
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims
    } catch {
      return { ok: false, message: 'Invalid token' }
    }
    if (typeof claims.exp !== 'number' || typeof claims.sub !== 'string' || claims.iss !== TOKEN_ISSUER) {
      return { ok: false, message: 'Invalid token' }
    }
    if (nowMs >= (claims.exp + 1) * 1000) return { ok: false, message: 'Token has expired' }
    // A later login of the same user ended this token's session.
    if (this.#singleSession() && this.#latest.get(claims.sub) !== claims.jti) {
      return { ok: false, message: 'Token has been revoked' }
    }
    return { ok: true, claims }
  }

  /** Invalidates every token issued so far by rotating the signing secret. */
  revokeAll (): void {
    this.#retired.unshift(this.#secret)
    this.#retired.length = Math.min(this.#retired.length, RETIRED_SECRETS_KEPT)
    this.#secret = randomBytes(32)
  }
}

function matches (given: Buffer, expected: Buffer): boolean {
  return given.length === expected.length && timingSafeEqual(given, expected)
}
