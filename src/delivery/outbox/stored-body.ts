// The body CIC gets from a stored document: the file in queue/, replayable (CIC's client may
// send it again after a 401), Content-Length from the record. Every read is checked against
// the record's size and SHA-256 and holds back its last chunk until the digest matches, so
// a file damaged after open() fails the upload before CIC has a complete (storable) body.
import { createReadStream } from 'node:fs'
import { createHash, type Hash } from 'node:crypto'
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream'
import { BodyIncompleteError, DigestMismatchError, type PreparedBody } from '../body.js'

export function storedBody (path: string, bytes: number, sha256: Buffer): PreparedBody {
  return {
    mode: 'outbox-file',
    length: bytes,
    replayable: true,
    open (): Readable {
      const check = new CheckedRead(bytes, sha256)
      // Errors of either stream destroy the other: CIC's client sees a failed body.
      return pipeline(createReadStream(path, { highWaterMark: 256 * 1024 }), check, () => {})
    },
    sha256: () => sha256,
    cleanup: async () => {}
  }
}

class CheckedRead extends Transform {
  private readonly hash: Hash = createHash('sha256')
  private held: Buffer | undefined
  private size = 0

  constructor (private readonly expected: number, private readonly sha256: Buffer) {
    super()
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length
    if (this.size > this.expected) return cb(new BodyIncompleteError(this.size, this.expected))
    this.hash.update(chunk)
    const previous = this.held
    this.held = chunk
    cb(null, previous)
  }

  override _flush (cb: TransformCallback): void {
    if (this.size !== this.expected) return cb(new BodyIncompleteError(this.size, this.expected))
    if (!this.hash.digest().equals(this.sha256)) return cb(new DigestMismatchError())
    cb(null, this.held)
  }
}
