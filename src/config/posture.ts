// One start-up line on how callers are authenticated and how CIC is reached; a warning when
// anyone who can reach the port can deliver. Never a key, password or proxy credential.
import type { Logger } from 'pino'
import type { Config } from './index.js'

function withoutCredentials (url: string | undefined): string | undefined {
  if (url === undefined) return undefined
  const u = new URL(url)
  return `${u.protocol}//${u.host}`
}

export function logSecurityPosture (config: Config, logger: Logger): void {
  const { auth, egress } = config
  for (const warning of config.warnings) logger.warn({ event: 'config.warning' }, warning)
  if (auth.mode === 'none') {
    logger.warn({ event: 'auth', mode: auth.mode }, 'caller authentication is OFF (GATEWAY_AUTH=none): anyone who can reach the gateway can deliver to every mailbox; only run it behind something that authenticates callers (e.g. a mesh with mTLS)')
  } else if (auth.mode === 'no-keys') {
    logger.warn({ event: 'auth', mode: auth.mode }, 'no API key configured: caller authentication is off (allowed outside NODE_ENV=production only); set GATEWAY_API_KEYS or callers in GATEWAY_CONFIG_FILE')
  } else {
    logger.info({ event: 'auth', mode: auth.mode, callers: auth.callers.map(c => ({ name: c.name, keys: c.keyDigests.length, mailboxes: c.mailboxes })) }, 'callers authenticate with API keys')
  }
  logger.info({
    event: 'egress',
    httpsProxy: withoutCredentials(egress.httpsProxy ?? egress.httpProxy),
    httpProxy: withoutCredentials(egress.httpProxy),
    noProxy: egress.noProxy,
    caFile: egress.caFile,
    mailboxes: config.mailboxes.map(m => ({ name: m.name, baseUrl: m.baseUrl, uploadFolder: m.uploadFolder }))
  }, 'CIC egress')
}
