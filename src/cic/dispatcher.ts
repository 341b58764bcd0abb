// The undici dispatcher every CIC call goes through: deliberate timeouts, TLS always verified,
// an HTTP(S) proxy when HTTPS_PROXY/HTTP_PROXY say so (NO_PROXY honoured), and extra CAs
// from CIC_CA_FILE for proxies that inspect TLS.
import { rootCertificates } from 'node:tls'
import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici'
import type { CicTimeouts, EgressConfig } from '../config/index.js'

export function createCicDispatcher (timeouts: CicTimeouts, egress: EgressConfig = {}): Dispatcher {
  // A custom CA is added to Node's roots, not put in their place: CIC's public certificate
  // stays valid when the proxy does not intercept every host.
  const tls = {
    rejectUnauthorized: true,
    ...(egress.ca !== undefined ? { ca: [...rootCertificates, egress.ca] } : {})
  }
  const agent = {
    headersTimeout: timeouts.headersTimeoutMs,
    // Idle time between body chunks, not total: a 1 GiB upload on a slow link is fine, a stalled one is not.
    bodyTimeout: timeouts.bodyTimeoutMs,
    keepAliveTimeout: 4_000,
    connections: 64
  }
  if (egress.httpProxy === undefined && egress.httpsProxy === undefined) {
    return new Agent({ ...agent, connect: { timeout: timeouts.connectTimeoutMs, ...tls } })
  }
  return new EnvHttpProxyAgent({
    ...agent,
    // Direct connections (NO_PROXY hosts) use `connect`; tunnelled ones use `requestTls` to
    // CIC through the CONNECT tunnel and `proxyTls` to an https:// proxy.
    connect: { timeout: timeouts.connectTimeoutMs, ...tls },
    requestTls: { timeout: timeouts.connectTimeoutMs, ...tls },
    proxyTls: { timeout: timeouts.connectTimeoutMs, ...tls },
    // Empty strings, not undefined: undici would otherwise read process.env itself.
    httpProxy: egress.httpProxy ?? '',
    httpsProxy: egress.httpsProxy ?? egress.httpProxy ?? '',
    noProxy: egress.noProxy ?? ''
  })
}
