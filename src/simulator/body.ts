// Request body consumption with backpressure; bodies are only kept in memory when asked to.
import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

export type BodyResult =
  | { kind: 'complete', bytes: number, sha256: string, body: Buffer | undefined, firstByteAt: number | undefined }
  /** The client went away, or sent fewer bytes than its Content-Length. */
  | { kind: 'aborted' }
  /** More than `limit` bytes; the rest of the body is being discarded. */
  | { kind: 'too-large' }
  /** `dropAfter` bytes arrived; the caller is expected to destroy the socket. */
  | { kind: 'dropped' }

export interface BodyOptions {
  /** The Content-Length, when there is one. */
  expected?: number | undefined
  limit?: number | undefined
  keep: boolean
  hash?: boolean
  dropAfter?: number | undefined
  /** Stop reading for this long after the first chunk. */
  stallMs?: number | undefined
}

/**
 * Reads the body through 'data' events. Each chunk is handled synchronously (hash update, optional
 * push), so the stream never gets ahead of us: flowing mode plus synchronous work is backpressure.
 */
export function readBody (req: IncomingMessage, options: BodyOptions): Promise<BodyResult> {
  return new Promise((resolve) => {
    const hash = options.hash === false ? undefined : createHash('sha256')
    const chunks: Buffer[] = []
    let bytes = 0
    let firstByteAt: number | undefined
    let settled = false

    const settle = (result: BodyResult): void => {
      if (settled) return
      settled = true
      req.removeListener('data', onData)
      req.removeListener('end', onEnd)
      req.removeListener('close', onClose)
      resolve(result)
    }

    const onData = (chunk: Buffer): void => {
      if (firstByteAt === undefined) {
        firstByteAt = Date.now()
        if (options.stallMs) {
          req.pause()
          setTimeout(() => req.resume(), options.stallMs).unref()
        }
      }
      bytes += chunk.length
      if (options.limit !== undefined && bytes > options.limit) {
        settle({ kind: 'too-large' })
        req.resume() // no 'data' listener left: the remainder is discarded
        return
      }
      hash?.update(chunk)
      if (options.keep) chunks.push(chunk)
      if (options.dropAfter !== undefined && bytes >= options.dropAfter) settle({ kind: 'dropped' })
    }

    const onEnd = (): void => {
      if (options.expected !== undefined && bytes !== options.expected) {
        settle({ kind: 'aborted' })
        return
      }
      settle({
        kind: 'complete',
        bytes,
        sha256: hash ? hash.digest('hex') : '',
        body: options.keep ? Buffer.concat(chunks, bytes) : undefined,
        firstByteAt
      })
    }

    // 'close' before 'end' means the request did not complete.
    const onClose = (): void => settle({ kind: 'aborted' })

    req.on('data', onData)
    req.once('end', onEnd)
    req.once('close', onClose)
  })
}

/** Reads and discards a body; resolves when it ended or the connection went away. */
export function discardBody (req: IncomingMessage): Promise<void> {
  if (req.complete) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      req.removeListener('end', done)
      req.removeListener('close', done)
      resolve()
    }
    req.once('end', done)
    req.once('close', done)
    req.resume()
  })
}
