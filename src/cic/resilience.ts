// Retry and circuit-breaker policies for CIC calls (cockatiel). The rules are the delivery
// contract in the README: lookups are retried on transient failures; an upload only when
// CIC certainly did not store it and its body can be sent again.
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, DelegateBackoff, circuitBreaker, handleWhen, retry, type CircuitBreakerPolicy, type IRetryBackoffContext, type RetryPolicy } from 'cockatiel'
import { CicError } from './errors.js'

export interface RetrySettings {
  /** Retries after the first attempt. */
  retries: number
  baseDelayMs: number
  /** Longest wait between attempts; a Retry-After longer than this is not waited for. */
  maxDelayMs: number
}

export interface CircuitSettings {
  /** Consecutive CIC failures that open the circuit. */
  failureThreshold: number
  /** How long the circuit stays open before one probe goes through. */
  halfOpenAfterMs: number
}

export { BrokenCircuitError, CircuitState }

/** Transient for an idempotent call (login, folder lookups): worth another try. */
export function isTransient (err: unknown): boolean {
  if (!(err instanceof CicError)) return false
  if (err.kind === 'status') return err.status === 429 || (err.status !== undefined && err.status >= 500)
  return err.kind === 'unreachable' || err.kind === 'timeout' || err.kind === 'connection-lost' || err.kind === 'protocol'
}

/** CIC certainly did not store the upload: refused connection, or 401 / 404 / 429 / 503. */
export function uploadCertainlyNotStored (err: unknown): boolean {
  if (!(err instanceof CicError) || err.operation !== 'upload') return false
  if (err.kind === 'unreachable') return true
  return err.kind === 'status' && (err.status === 401 || err.status === 404 || err.status === 429 || err.status === 503)
}

/** A failure that says CIC is in trouble (counts towards opening the circuit); caller mistakes do not. */
export function isOutage (err: unknown): boolean {
  if (!(err instanceof CicError)) return false
  if (err.kind === 'status') return err.status === 429 || (err.status !== undefined && err.status >= 500)
  return err.kind === 'unreachable' || err.kind === 'timeout' || err.kind === 'connection-lost'
}

function retryAfterWithinLimit (err: unknown, settings: RetrySettings): boolean {
  const seconds = err instanceof CicError ? err.retryAfterSeconds : undefined
  return seconds === undefined || seconds * 1000 <= settings.maxDelayMs
}

/** Full-jitter exponential backoff, or CIC's Retry-After when it sent one. */
function backoff (settings: RetrySettings): DelegateBackoff<IRetryBackoffContext<unknown>> {
  return new DelegateBackoff(context => {
    const err = 'error' in context.result ? context.result.error : undefined
    if (err instanceof CicError && err.retryAfterSeconds !== undefined) return err.retryAfterSeconds * 1000
    const cap = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** (context.attempt - 1))
    return Math.round(cap / 2 + Math.random() * cap / 2)
  })
}

export function lookupRetryPolicy (settings: RetrySettings): RetryPolicy {
  return retry(handleWhen(err => isTransient(err) && retryAfterWithinLimit(err, settings)), { maxAttempts: settings.retries, backoff: backoff(settings) })
}

export function uploadRetryPolicy (settings: RetrySettings, replayable: boolean): RetryPolicy {
  // A revoked token or forgotten folder gets one immediate replay even with retries off.
  const refreshOnly = (err: Error): boolean => err instanceof CicError && (err.status === 401 || err.status === 404)
  return retry(handleWhen(err => replayable && uploadCertainlyNotStored(err) && retryAfterWithinLimit(err, settings) && (settings.retries > 0 || refreshOnly(err))), {
    maxAttempts: Math.max(settings.retries, 1),
    backoff: new DelegateBackoff(context => {
      const err = 'error' in context.result ? context.result.error : undefined
      if (err instanceof CicError && (err.status === 401 || err.status === 404)) return 0
      return backoff(settings).next(context).duration
    })
  })
}

export function createCircuitBreaker (settings: CircuitSettings): CircuitBreakerPolicy {
  return circuitBreaker(handleWhen(isOutage), { halfOpenAfter: settings.halfOpenAfterMs, breaker: new ConsecutiveBreaker(settings.failureThreshold) })
}
