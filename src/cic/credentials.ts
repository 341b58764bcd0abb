// A mailbox's password, read again from its file before every login: a rotated secret
// (a Kubernetes Secret volume is updated in place) is picked up without a restart.
// Logins are rare (once per token lifetime), so the read costs nothing that matters.
import type { MailboxConfig } from '../config/index.js'
import { readSecretText } from '../config/secrets.js'
import type { MailboxTarget } from './mailbox.js'

export function mailboxTarget (m: MailboxConfig, onReadError?: (err: unknown) => void): MailboxTarget {
  const target = { name: m.name, baseUrl: m.baseUrl, username: m.username, uploadFolder: m.uploadFolder, password: m.password }
  const file = m.passwordFile
  if (file === undefined) return target
  let last = m.password
  return Object.defineProperty(target, 'password', {
    enumerable: false,
    get (): string {
      try {
        const value = readSecretText(file)
        // An empty file is a secret being rewritten: keep the last good value.
        if (value !== '') last = value
      } catch (err) {
        onReadError?.(err)
      }
      return last
    }
  })
}
