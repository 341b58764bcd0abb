// Which CIC mailboxes the gateway delivers to: those of GATEWAY_CONFIG_FILE, the one of the
// CIC_* variables, or none (demo mode: main() starts the bundled simulator).
import type { EnvValues } from './env-schema.js'
import { loadConfigFile } from './file.js'
import type { Findings } from './findings.js'
import { readSecret, type Env, type SecretSource } from './secrets.js'
import type { CallerConfig, MailboxConfig } from './types.js'

export interface Mailboxes {
  demo: boolean
  mailboxes: MailboxConfig[]
  defaultMailbox: string | undefined
  /** The callers GATEWAY_CONFIG_FILE declares. */
  callers: CallerConfig[]
}

const NONE: Readonly<Mailboxes> = { demo: false, mailboxes: [], defaultMailbox: undefined, callers: [] }
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i

/** https://, or plain http to a loopback host. */
export function secureBaseUrl (baseUrl: string): boolean {
  const url = new URL(baseUrl)
  return url.protocol === 'https:' || LOOPBACK.test(url.hostname)
}

export function loadMailboxes (env: Env, values: EnvValues | undefined, production: boolean, found: Findings): Mailboxes {
  const username = readSecret(env, 'CIC_USERNAME', found)
  const password = readSecret(env, 'CIC_PASSWORD', found)
  if (password.value !== undefined) found.secret(password.value)
  const baseUrl = values?.CIC_BASE_URL?.replace(/\/$/, '')
  const configFile = values?.GATEWAY_CONFIG_FILE
  const fromEnv = baseUrl !== undefined || username.value !== undefined || password.value !== undefined
  let result: Mailboxes
  if (configFile !== undefined) {
    if (fromEnv) found.problem('GATEWAY_CONFIG_FILE declares the mailboxes: unset CIC_BASE_URL, CIC_USERNAME and CIC_PASSWORD (and their _FILE forms)')
    result = { ...NONE, ...loadConfigFile(configFile, { uploadFolder: values?.CIC_UPLOAD_FOLDER ?? 'upload' }, found) }
  } else if (!fromEnv) {
    if (production) found.problem('CIC_BASE_URL is required when NODE_ENV=production (the bundled simulator is for demos only)')
    result = { ...NONE, demo: true }
  } else {
    result = fromVariables(baseUrl, username, password, values, found)
  }
  // Credentials never cross a network in clear text; a local simulator is not a network.
  for (const m of production ? result.mailboxes : []) {
    if (secureBaseUrl(m.baseUrl)) continue
    const where = configFile === undefined ? 'CIC_BASE_URL' : `GATEWAY_CONFIG_FILE: mailboxes.${m.name}.baseUrl`
    found.problem(`${where} must be https:// when NODE_ENV=production (plain http is allowed only to a loopback host)`)
  }
  return result
}

/** The one mailbox of CIC_BASE_URL, CIC_USERNAME and CIC_PASSWORD (or their _FILE forms). */
function fromVariables (baseUrl: string | undefined, username: SecretSource, password: SecretSource, values: EnvValues | undefined, found: Findings): Mailboxes {
  if (baseUrl === undefined && values !== undefined) found.problem('CIC_BASE_URL is required when CIC credentials are set')
  if (username.value === undefined && !username.failed) found.problem('CIC_USERNAME (or CIC_USERNAME_FILE) is required')
  if (password.value === undefined && !password.failed) found.problem('CIC_PASSWORD (or CIC_PASSWORD_FILE) is required')
  if (baseUrl === undefined || username.value === undefined || password.value === undefined || values === undefined) return NONE
  const mailbox = { name: 'default', baseUrl, username: username.value, password: password.value, passwordFile: password.file, uploadFolder: values.CIC_UPLOAD_FOLDER }
  return { ...NONE, mailboxes: [mailbox], defaultMailbox: 'default' }
}
