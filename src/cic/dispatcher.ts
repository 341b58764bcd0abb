// The undici dispatcher every CIC call goes through: deliberate timeouts, TLS always verified.
import { Agent, type Dispatcher } from 'undici'
import type { CicTimeouts } from '../config.js'

export function createCicDispatcher (timeouts: CicTimeouts): Dispatcher {
  return new Agent({
    connect: { timeout: timeouts.connectTimeoutMs, rejectUnauthorized: true },
    headersTimeout: timeouts.headersTimeoutMs,
    // Idle time between body chunks, not total: a 1 GiB upload on a slow link is fine, a stalled one is not.
    bodyTimeout: timeouts.bodyTimeoutMs,
    keepAliveTimeout: 4_000,
    connections: 64
  })
}
