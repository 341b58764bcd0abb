// pino for everything; secrets are redacted by path wherever they could appear.
// JSON lines by default; pretty-printed only when stdout is a terminal and pino-pretty is
// installed (a dev dependency: the production image has no pino-pretty and always logs JSON).
import { createRequire } from 'node:module'
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino'

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.password',
  '*.access_token',
  '*.accessToken',
  '*.token',
  'password',
  'access_token',
  'token'
]

export function loggerOptions (level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'cic-gateway' },
    timestamp: pino.stdTimeFunctions.isoTime
  }
}

/**
 * A child for hot log lines whose fields are all scalars (the delivery line): redaction by
 * the explicit paths only. The wildcard paths ('*.password', ...) match keys of nested
 * objects, which such lines do not have, so the output is the same; they cost ~10 µs a
 * line (the redactor clones the object), a tenth of a small upload's CPU.
 */
export function scalarLineLogger (logger: Logger): Logger {
  return logger.child({}, { redact: { paths: REDACT_PATHS.filter(p => !p.includes('*')), censor: '[redacted]' } })
}

export function createLogger (level: string, destination?: DestinationStream): Logger {
  if (destination !== undefined) return pino(loggerOptions(level), destination)
  const pretty = process.stdout.isTTY === true ? prettyStream() : undefined
  return pino(loggerOptions(level), pretty ?? bufferedStdout())
}

/** How long a log line may wait in the buffer before it is written. */
const LOG_FLUSH_MS = 200

/**
 * stdout written in batches of up to 4 KiB instead of one write(2) per line: at thousands
 * of deliveries a second, the per-line write was ~5 % of a small upload's CPU. A line
 * waits at most LOG_FLUSH_MS; pino writes what is left when the process exits (a SIGKILL
 * can lose the last LOG_FLUSH_MS of lines, never a delivery: the caller has its 201).
 */
function bufferedStdout (): DestinationStream {
  const stream = pino.destination({ dest: 1, sync: false, minLength: 4096 })
  setInterval(() => { stream.flush() }, LOG_FLUSH_MS).unref()
  return stream
}

type PrettyFactory = (opts: Record<string, unknown>) => DestinationStream

/** pino-pretty writing synchronously to stdout, or undefined when it is not installed. */
function prettyStream (): DestinationStream | undefined {
  let factory: PrettyFactory
  try {
    const mod = createRequire(import.meta.url)('pino-pretty') as PrettyFactory | { default: PrettyFactory }
    factory = typeof mod === 'function' ? mod : mod.default
  } catch {
    return undefined
  }
  // sync: every line is on the terminal before the process exits.
  return factory({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' })
}
