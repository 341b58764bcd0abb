// Who may call the gateway: the callers of GATEWAY_CONFIG_FILE and the keys of
// GATEWAY_API_KEYS(_FILE), or nobody's business (GATEWAY_AUTH=none, a mesh authenticates).
import type { Findings } from './findings.js'
import { checkKeys, keyDigest, sharedKeys, splitKeys } from './keys.js'
import { readSecret, type Env } from './secrets.js'
import type { AuthConfig, CallerConfig } from './types.js'

export interface AuthSettings {
  production: boolean
  /** GATEWAY_AUTH */
  requested: 'api-key' | 'none' | undefined
  /** The callers GATEWAY_CONFIG_FILE declares. */
  fileCallers: CallerConfig[]
}

/** GATEWAY_API_KEYS(_FILE): callers named api-key-1, api-key-2... */
function envCallers (env: Env, found: Findings): CallerConfig[] {
  const raw = readSecret(env, 'GATEWAY_API_KEYS', found)
  if (raw.value === undefined) return []
  const source = raw.file === undefined ? 'GATEWAY_API_KEYS' : 'GATEWAY_API_KEYS_FILE'
  const keys = splitKeys(raw.value)
  if (keys.length === 0) found.problem(`${source} holds no key`)
  checkKeys(keys, i => `${source}: key #${i + 1}`, found)
  found.secret(...keys)
  // Keys from the environment are not tied to a mailbox: they may deliver to every one.
  return keys.map((key, i) => ({ name: `api-key-${i + 1}`, keyDigests: [keyDigest(key)], mailboxes: '*' }))
}

export function loadAuth (env: Env, { production, requested, fileCallers }: AuthSettings, found: Findings): AuthConfig {
  const callers = [...fileCallers, ...envCallers(env, found)]
  for (const [first, again] of sharedKeys(callers)) found.problem(`the same API key is configured for ${first} and ${again}: every caller needs its own`)
  if (requested === 'none') {
    if (callers.length > 0) found.problem('GATEWAY_AUTH=none, yet API keys are configured: remove the keys or GATEWAY_AUTH')
    return { mode: 'none', callers: [] }
  }
  if (callers.length > 0) return { mode: 'api-key', callers }
  if (production || requested === 'api-key') {
    found.problem(`no API key is configured${production ? ' and NODE_ENV=production' : ''}: set GATEWAY_API_KEYS, GATEWAY_API_KEYS_FILE or callers in GATEWAY_CONFIG_FILE (or GATEWAY_AUTH=none when a mesh authenticates callers)`)
  }
  return { mode: 'no-keys', callers: [] }
}
