// The shared store of several replicas: REDIS_URL, REDIS_PASSWORD(_FILE), REDIS_CA_FILE and
// REDIS_KEY_PREFIX. Unset REDIS_URL: no store, the gateway keeps its state in this process.
import type { EnvValues } from './env-schema.js'
import type { Findings } from './findings.js'
import { nonEmpty, readCaFile, readSecret, type Env } from './secrets.js'
import type { RedisConfig } from './types.js'

export interface RedisAddress {
  host: string
  port: number
  tls: boolean
  db: number
  username?: string
  password?: string
}

/** Parses REDIS_URL; a mistake is named without echoing the URL (it may hold a password). */
export function parseRedisUrl (url: string): RedisAddress {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new Error('REDIS_URL is not a URL (expected redis://host:port/db or rediss://...)')
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error('REDIS_URL must start with redis:// or rediss://')
  if (u.hostname === '') throw new Error('REDIS_URL has no host')
  const path = u.pathname.replace(/^\//, '')
  if (path !== '' && !/^\d{1,5}$/.test(path)) throw new Error('REDIS_URL: the path must be a database number')
  const decode = (s: string): string => { try { return decodeURIComponent(s) } catch { return s } }
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port === '' ? 6379 : Number(u.port),
    tls: u.protocol === 'rediss:',
    db: path === '' ? 0 : Number(path),
    ...(u.username !== '' ? { username: decode(u.username) } : {}),
    ...(u.password !== '' ? { password: decode(u.password) } : {})
  }
}

/** The address, or undefined (and a problem) when REDIS_URL is not one; a password in it is a secret. */
function address (url: string, found: Findings): RedisAddress | undefined {
  try {
    const parsed = parseRedisUrl(url)
    if (parsed.password !== undefined) found.secret(new URL(url).password, parsed.password)
    return parsed
  } catch (err) {
    found.problem((err as Error).message)
    return undefined
  }
}

const NEED_URL = ['REDIS_PASSWORD', 'REDIS_PASSWORD_FILE', 'REDIS_CA_FILE', 'REDIS_KEY_PREFIX']

export function loadRedis (env: Env, values: EnvValues | undefined, found: Findings): RedisConfig | undefined {
  const password = readSecret(env, 'REDIS_PASSWORD', found)
  if (password.value !== undefined) found.secret(password.value)
  if (values === undefined) return undefined
  const url = values.REDIS_URL
  if (url === undefined) {
    for (const name of NEED_URL.filter(n => nonEmpty(env[n]) !== undefined)) {
      found.warn(`${name} is set but REDIS_URL is not: it is unused, and Idempotency-Key records stay in this process`)
    }
    return undefined
  }
  const tls = address(url, found)?.tls
  const caFile = values.REDIS_CA_FILE
  const ca = caFile === undefined ? undefined : readCaFile(caFile, 'REDIS_CA_FILE', found)
  if (caFile !== undefined && tls === false) found.problem('REDIS_CA_FILE is set but REDIS_URL is redis://: a CA is used only with rediss:// (TLS)')
  return {
    url,
    keyPrefix: values.REDIS_KEY_PREFIX,
    ...(password.value !== undefined ? { password: password.value } : {}),
    ...(ca !== undefined ? { ca } : {})
  }
}
