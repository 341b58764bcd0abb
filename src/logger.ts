// pino for everything; secrets are redacted by path wherever they could appear.
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

export function createLogger (level: string, destination?: DestinationStream): Logger {
  return destination !== undefined ? pino(loggerOptions(level), destination) : pino(loggerOptions(level))
}
