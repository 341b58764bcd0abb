// Turns a caller's byte stream into an UploadBody CIC can take, hashing it on the way.
//  - known length, small:  kept in memory (replayable after a 401);
//  - known length, large:  streamed straight through with backpressure (not replayable);
//  - unknown length (chunked, multipart part): spooled, in memory up to a small cap and
//    then to a temporary file, so it can be sent with Content-Length (CIC may not accept
//    chunked uploads) and replayed. The file is removed by cleanup() in every outcome,
//    or by the spooling itself when it fails or the caller hangs up.
import { createHash, randomUUID, type Hash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, rm, unlink, type FileHandle } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream'
import { UploadBodyError, type UploadBody } from '../cic/body.js'
import { isProcessAlive } from './process-alive.js'
import { streamed } from './read-buffers.js'

export class BodyTooLargeError extends Error {
  constructor (readonly limit: number) {
    super(`the document exceeds the limit of ${limit} bytes`)
    this.name = 'BodyTooLargeError'
  }
}

export class BodyIncompleteError extends UploadBodyError {
  constructor (readonly received: number, readonly expected: number | undefined) {
    super(expected === undefined ? 'the document body ended early' : `the document body ended after ${received} of ${expected} bytes`)
    this.name = 'BodyIncompleteError'
  }
}

export class DigestMismatchError extends UploadBodyError {
  constructor () {
    super('the document does not match the digest the caller sent')
    this.name = 'DigestMismatchError'
  }
}

export class SpoolError extends Error {
  constructor (cause: unknown) {
    super('the document could not be spooled to disk', { cause })
    this.name = 'SpoolError'
  }
}

export interface BodyOptions {
  maxBytes: number
  memoryBytes: number
  spool: Spool
  /** SHA-256 the caller says the body has; a mismatch fails the body before its last byte reaches CIC. */
  expectedSha256?: Buffer
  /** Keep the bytes (spool) even when the length is known, so they can be compared or sent again. */
  replayable?: boolean
}

export interface PreparedBody extends UploadBody {
  /** 'memory' | 'stream' | 'spool-memory' | 'spool-file': how the body travels, for logs. */
  readonly mode: string
  /** SHA-256 of every byte, once all of them have been read (after the upload for streamed bodies). */
  sha256 (): Buffer | undefined
  /** Releases the spool file, if any. Safe to call more than once. */
  cleanup (): Promise<void>
}

/**
 * The spool directory and what it holds right now (a gauge for operators). Each process
 * spools into a subdirectory of its own (SPOOL_DIR/<host>-<pid>): gateways sharing a
 * SPOOL_DIR (the default one in os.tmpdir(), say) never remove each other's files; at start a
 * process removes the subdirectories of this host's dead processes (and its own pid's: a
 * container restarted as pid 1 again).
 */
export class Spool {
  bytesInUse = 0
  readonly dir: string
  private readonly prefix = `${hostname()}-`

  constructor (readonly root: string) {
    this.dir = join(root, `${this.prefix}${process.pid}`)
  }

  /** Creates this process's directory and removes what crashed processes left behind. */
  async init (): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 })
    for (const name of await readdir(this.root)) {
      // Files of versions that spooled into SPOOL_DIR itself.
      if (name.endsWith('.spool')) await rm(join(this.root, name), { force: true })
      if (!name.startsWith(this.prefix)) continue
      const pid = Number(name.slice(this.prefix.length))
      const dead = pid === process.pid ? !openSpools.has(join(this.root, name)) : !isProcessAlive(pid)
      if (Number.isInteger(pid) && dead) await rm(join(this.root, name), { recursive: true, force: true })
    }
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    openSpools.set(this.dir, (openSpools.get(this.dir) ?? 0) + 1)
  }

  newPath (): string {
    return join(this.dir, `${randomUUID()}.spool`)
  }

  /** Removes this process's directory (at close, once no upload runs). */
  async close (): Promise<void> {
    const users = (openSpools.get(this.dir) ?? 1) - 1
    if (users > 0) {
      openSpools.set(this.dir, users)
      return
    }
    openSpools.delete(this.dir)
    await rm(this.dir, { recursive: true, force: true })
  }
}

/** Spool directories of this process in use, and by how many apps (tests build several in one process). */
const openSpools = new Map<string, number>()

export async function prepareBody (source: Readable, declaredLength: number | undefined, opts: BodyOptions): Promise<PreparedBody> {
  if (declaredLength !== undefined && declaredLength > opts.maxBytes) throw new BodyTooLargeError(opts.maxBytes)
  if (declaredLength !== undefined && declaredLength <= opts.memoryBytes) return await readToMemory(source, declaredLength, opts)
  if (declaredLength !== undefined && opts.replayable !== true) return streamThrough(source, declaredLength, opts)
  const body = await spool(source, opts)
  if (declaredLength !== undefined && body.length !== declaredLength) {
    await body.cleanup()
    throw new BodyIncompleteError(body.length, declaredLength)
  }
  return body
}

function verify (hash: Buffer, expected: Buffer | undefined): void {
  if (expected !== undefined && !hash.equals(expected)) throw new DigestMismatchError()
}

async function readToMemory (source: Readable, length: number, opts: BodyOptions): Promise<PreparedBody> {
  const data = await collect(source, length)
  const digest = createHash('sha256').update(data).digest()
  verify(digest, opts.expectedSha256)
  return { mode: 'memory', length, replayable: true, open: () => data, sha256: () => digest, cleanup: async () => {} }
}

/**
 * All bytes of a small body. Listeners rather than an async iterator (which costs a promise
 * per chunk and a stream-finished watcher per body): this runs for every small document.
 */
async function collect (source: Readable, length: number): Promise<Buffer> {
  return await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = (): void => {
      source.off('data', onData)
      source.off('end', onEnd)
      source.off('error', onError)
      source.off('close', onClose)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      chunks.push(chunk)
    }
    const onEnd = (): void => {
      done()
      if (size !== length) reject(new BodyIncompleteError(size, length))
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
    }
    const onError = (err: Error): void => { done(); reject(err) }
    // Closed before its end (the caller hung up): incomplete.
    const onClose = (): void => { done(); reject(new BodyIncompleteError(size, length)) }
    if (source.destroyed) return reject(new BodyIncompleteError(0, length))
    source.on('data', onData)
    source.once('end', onEnd)
    source.once('error', onError)
    source.once('close', onClose)
  })
}

/**
 * Hashes and counts bytes on their way to CIC. With an expected digest it holds back the
 * last chunk until the digest is verified, so CIC never receives a complete (storable)
 * body that does not match.
 */
class HashingPassThrough extends Transform {
  private readonly hash: Hash = createHash('sha256')
  private held: Buffer | undefined
  size = 0
  digest: Buffer | undefined

  constructor (private readonly expectedLength: number, private readonly expectedSha256: Buffer | undefined) {
    super()
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.size += chunk.length
    this.hash.update(chunk)
    streamed(chunk.length)
    if (this.expectedSha256 === undefined) return cb(null, chunk)
    const previous = this.held
    this.held = chunk
    cb(null, previous)
  }

  override _flush (cb: TransformCallback): void {
    if (this.size !== this.expectedLength) return cb(new BodyIncompleteError(this.size, this.expectedLength))
    this.digest = this.hash.digest()
    try {
      verify(this.digest, this.expectedSha256)
    } catch (err) {
      return cb(err as Error)
    }
    cb(null, this.held)
  }
}

function streamThrough (source: Readable, length: number, opts: BodyOptions): PreparedBody {
  let opened = false
  let hasher: HashingPassThrough | undefined
  return {
    mode: 'stream',
    length,
    replayable: false,
    open () {
      if (opened) throw new Error('a streamed body can be sent only once')
      opened = true
      const h = hasher = new HashingPassThrough(length, opts.expectedSha256)
      source.pipe(h)
      // The caller hanging up mid-body breaks the stream CIC reads, which aborts the upload.
      const broken = (): void => { if (!source.readableEnded) h.destroy(new BodyIncompleteError(h.size, length)) }
      source.once('error', broken)
      source.once('close', broken)
      return h
    },
    sha256: () => hasher?.digest,
    cleanup: async () => {
      // A body never sent (e.g. login failed first) is drained so the connection stays usable.
      if (!opened) source.resume()
    }
  }
}

/**
 * Keeps bytes in memory up to memoryBytes, then moves them to a spool file.
 *
 * The writer owns its file from the moment it is opened until release(): it adds to
 * Spool.bytesInUse only what a write has actually put on disk, and release() (run by
 * _destroy and by the body's cleanup, at most once) waits for any open or write still in
 * flight, closes the file, unlinks it and takes back exactly what was added. So a caller
 * hanging up at any byte, even while the file is being opened, leaves neither a file nor
 * a count behind.
 */
class SpillWriter extends Writable {
  chunks: Buffer[] = []
  size = 0
  /** Bytes written to the spool file and counted in Spool.bytesInUse (until release). */
  fileBytes = 0
  path: string | undefined
  private file: FileHandle | undefined
  /** The file exists on disk (open resolved) and has not been unlinked yet. */
  private created = false
  /** The open, write or close in flight: release() waits for it. */
  private pending: Promise<unknown> = Promise.resolve()
  private releasing: Promise<void> | undefined
  private readonly hash = createHash('sha256')
  digest: Buffer | undefined

  constructor (private readonly opts: BodyOptions) {
    super({ highWaterMark: 256 * 1024 })
  }

  override _write (chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.size += chunk.length
    if (this.size > this.opts.maxBytes) return cb(new BodyTooLargeError(this.opts.maxBytes))
    this.hash.update(chunk)
    streamed(chunk.length)
    if (this.path === undefined && this.size <= this.opts.memoryBytes) {
      this.chunks.push(chunk)
      return cb()
    }
    const op = this.spill(chunk)
    this.pending = op.catch(() => {})
    op.then(() => cb(), (err: unknown) => cb(new SpoolError(err)))
  }

  private async spill (chunk: Buffer): Promise<void> {
    if (this.path === undefined) {
      this.path = this.opts.spool.newPath()
      const file = await open(this.path, 'wx', 0o600)
      // Owned from here on, whatever happened meanwhile: release() closes and unlinks it.
      this.file = file
      this.created = true
      const held = this.chunks
      this.chunks = []
      for (const c of held) await this.writeAll(c)
    }
    await this.writeAll(chunk)
  }

  private async writeAll (chunk: Buffer): Promise<void> {
    let offset = 0
    while (offset < chunk.length) {
      // Released (caller gone) between two writes: write nothing more.
      if (this.releasing !== undefined || this.file === undefined) throw new Error('spool writer released')
      const { bytesWritten } = await this.file.write(chunk, offset, chunk.length - offset)
      // Counted once on disk, so release() takes back exactly this.
      offset += bytesWritten
      this.fileBytes += bytesWritten
      this.opts.spool.bytesInUse += bytesWritten
    }
  }

  override _final (cb: (err?: Error | null) => void): void {
    this.digest = this.hash.digest()
    const file = this.file
    this.file = undefined
    if (file === undefined) return cb()
    const op = file.close()
    this.pending = op.catch(() => {})
    op.then(() => cb(), cb)
  }

  override _destroy (err: Error | null, cb: (err?: Error | null) => void): void {
    // autoDestroy after a normal finish: the file is the body now, released by its cleanup().
    if (this.writableFinished) return cb(err)
    this.release().then(() => cb(err), () => cb(err))
  }

  /** Closes and removes the spool file, if any, and uncounts its bytes. Safe to call more than once. */
  async release (): Promise<void> {
    this.releasing ??= this.doRelease()
    await this.releasing
  }

  private async doRelease (): Promise<void> {
    // An open or write still in flight (the caller hung up meanwhile) settles first.
    await this.pending
    const file = this.file
    this.file = undefined
    this.chunks = []
    if (file !== undefined) await file.close().catch(() => {})
    if (this.created && this.path !== undefined) {
      this.created = false
      await unlink(this.path).catch(() => {})
    }
    this.opts.spool.bytesInUse -= this.fileBytes
    this.fileBytes = 0
  }
}

async function spool (source: Readable, opts: BodyOptions): Promise<PreparedBody> {
  const writer = new SpillWriter(opts)
  const cleanup = async (): Promise<void> => { await writer.release() }
  try {
    await pipeline(source, writer)
    if (source.readableAborted) throw new BodyIncompleteError(writer.size, undefined)
    verify(writer.digest!, opts.expectedSha256)
  } catch (err) {
    await cleanup()
    throw err
  }
  const { size, path } = writer
  const digest = writer.digest!
  if (path === undefined) {
    const data = Buffer.concat(writer.chunks, size)
    return { mode: 'spool-memory', length: size, replayable: true, open: () => data, sha256: () => digest, cleanup }
  }
  return { mode: 'spool-file', length: size, replayable: true, open: () => createReadStream(path), sha256: () => digest, cleanup }
}
