// How CIC is reached: HTTPS_PROXY/HTTP_PROXY/NO_PROXY (lower case first, as curl and undici
// read them) and CIC_CA_FILE, the extra CAs a TLS-inspecting proxy needs.
import type { EnvValues } from './env-schema.js'
import type { Findings } from './findings.js'
import { readCaFile, type Env } from './secrets.js'
import type { EgressConfig } from './types.js'

const PROXIES = { httpProxy: ['http_proxy', 'HTTP_PROXY'], httpsProxy: ['https_proxy', 'HTTPS_PROXY'] } as const

/** The first set of the variables. */
function firstEnv (env: Env, ...names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = env[n]
    if (v !== undefined && v !== '') return v
  }
  return undefined
}

/** A proxy URL, checked; its password is a secret. The value is never printed: it may hold credentials. */
function proxyUrl (value: string, name: string, found: Findings): string | undefined {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    found.problem(`${name} is not a URL (expected http://host:port)`)
    return undefined
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    found.problem(`${name} must be an http:// or https:// proxy URL`)
    return undefined
  }
  if (url.password !== '') found.secret(url.password, decodeURIComponent(url.password))
  return value
}

export function loadEgress (env: Env, values: EnvValues | undefined, found: Findings): EgressConfig {
  const egress: EgressConfig = {}
  for (const [key, names] of Object.entries(PROXIES) as Array<[keyof typeof PROXIES, readonly [string, string]]>) {
    const value = firstEnv(env, ...names)
    const url = value === undefined ? undefined : proxyUrl(value, names[1], found)
    if (url !== undefined) egress[key] = url
  }
  egress.noProxy = firstEnv(env, 'no_proxy', 'NO_PROXY')
  const caFile = values?.CIC_CA_FILE
  const ca = caFile === undefined ? undefined : readCaFile(caFile, 'CIC_CA_FILE', found)
  if (ca !== undefined) Object.assign(egress, { ca, caFile })
  return egress
}
