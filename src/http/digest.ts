// Caller-supplied digests (RFC 9530 Repr-Digest / Content-Digest), checked against the bytes received.
import { refusal } from './problems.js'

/**
 * The sha-256 value of a Repr-Digest or Content-Digest header, if it has one. Other
 * algorithms are ignored (RFC 9530 lets a recipient skip ones it does not support).
 */
export function expectedSha256 (headers: Record<string, string | string[] | undefined>): Buffer | undefined {
  let found: Buffer | undefined
  for (const name of ['repr-digest', 'content-digest']) {
    const raw = headers[name]
    if (raw === undefined) continue
    const value = Array.isArray(raw) ? raw.join(',') : raw
    for (const member of value.split(',')) {
      const match = /^\s*([a-z0-9-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*$/.exec(member)
      if (match === null) throw refusal('digest-invalid', `the ${name} header is not an RFC 9530 dictionary (e.g. sha-256=:<base64>:)`)
      if (match[1] !== 'sha-256') continue
      const digest = Buffer.from(match[2]!, 'base64')
      if (digest.length !== 32) throw refusal('digest-invalid', `the sha-256 value of ${name} is not 32 bytes of base64`)
      if (found !== undefined && !found.equals(digest)) throw refusal('digest-mismatch', 'Repr-Digest and Content-Digest disagree')
      found = digest
    }
  }
  return found
}
