import type { Readable } from 'node:stream'

/** A document body as the CIC client consumes it. CIC may not accept chunked uploads, so the length is always known. */
export interface UploadBody {
  /** Exact byte count, sent as Content-Length. */
  readonly length: number
  /** True when open() may be called again after a failed attempt (the bytes were kept). */
  readonly replayable: boolean
  /** The bytes, from the start. A non-replayable body can be opened once. */
  open (): Readable | Buffer
}

/**
 * Thrown by a body's own stream when the document itself is at fault (it ended early, or
 * does not match its digest): the CIC client reports it as such, not as CIC's failure.
 */
export class UploadBodyError extends Error {}
