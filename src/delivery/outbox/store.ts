// The on-disk queue, on the pattern of Postfix's queue and maildir:
//
//   tmp/      a document being stored: tmp/<id> (body) and tmp/<id>.json (record), each
//             fsynced; also record updates on their way in. Never acknowledged: cleared at open.
//   queue/    committed documents: queue/<id> (body) and queue/<id>.json (record). The
//             record's rename into queue/ is the commit point; queue/ is fsynced before the
//             accept resolves. Its state field (queued, delivering, failed) changes by writing
//             a new record to tmp/, fsyncing it and renaming it over the old one, so a crash
//             leaves either the old or the new state, never a mix.
//   done/     settled status records without a body (delivered; or failed and set aside),
//             kept for status reads and pruned after a TTL. A record in done/ wins over a
//             leftover in queue/ (a crash between writing one and removing the other).
//   corrupt/  what open() found damaged (torn JSON, a body whose size or SHA-256 does not
//             match its record), moved aside as found and never uploaded.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { BodyIncompleteError, BodyTooLargeError } from '../body.js'
import { DirSync, errnoCode, fsyncDir, writeFileSynced } from './fsync.js'
import { OutboxFullError, OutboxStorageError, type DeliveryState, type DeliveryStatus, type RecoveryReport } from './types.js'

/** A delivery's record as it is on disk. */
export interface StoredRecord extends DeliveryStatus {
  v: 1
  /** The upload may have reached CIC (outcome unknown): look in the upload folder before sending again. */
  reconcile?: boolean
  /** Set by retry(): the age limit counts from here. */
  requeuedAt?: string
  /** Failed tries in a row since acceptance or retry(): the backoff's exponent. */
  failures?: number
  /** CIC's id of the delivered file. */
  fileId?: string
  /** When it reached done/ (delivered, or set aside): the TTL counts from here. */
  settledAt?: string
}

/** Ids are UUIDv7: sortable by time of acceptance, safe as file names. */
export const ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

const QUEUE_STATES: readonly DeliveryState[] = ['queued', 'delivering', 'failed']
const SETTLED_STATES: readonly DeliveryState[] = ['delivered', 'failed']

export interface BodyLimits {
  /** The largest document accepted. */
  maxBytes: number
  /** The length the caller declared, when known. */
  expectedLength?: number
  /** Takes n more bytes of capacity; false when the outbox cannot keep them. */
  reserve: (n: number) => boolean
  capacity: number
}

export interface WrittenBody {
  bytes: number
  sha256: Buffer
}

export interface Recovered {
  /** queue/ records whose body matches them. */
  active: StoredRecord[]
  /** done/ records still within their TTL. */
  settled: StoredRecord[]
  report: RecoveryReport
}

export class OutboxStore {
  readonly tmp: string
  readonly queue: string
  readonly done: string
  readonly corrupt: string
  private readonly queueSync: DirSync
  private readonly doneSync: DirSync
  private updates = 0

  constructor (readonly dir: string) {
    this.tmp = join(dir, 'tmp')
    this.queue = join(dir, 'queue')
    this.done = join(dir, 'done')
    this.corrupt = join(dir, 'corrupt')
    this.queueSync = new DirSync(this.queue)
    this.doneSync = new DirSync(this.done)
  }

  async init (): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    for (const d of [this.tmp, this.queue, this.done, this.corrupt]) await mkdir(d, { recursive: true, mode: 0o700 })
    await fsyncDir(this.dir)
  }

  bodyPath (id: string): string {
    return join(this.queue, id)
  }

  /** Streams a caller's body into tmp/<id>, hashing and counting it, and fsyncs it. */
  async writeBody (id: string, source: Readable, limits: BodyLimits): Promise<WrittenBody> {
    let file: FileHandle
    try {
      file = await open(join(this.tmp, id), 'wx', 0o600)
    } catch (err) {
      throw new OutboxStorageError(errnoCode(err), err)
    }
    const sink = new FileSink(file, limits)
    try {
      try {
        await pipeline(source, sink)
      } catch (err) {
        if (err instanceof BodyTooLargeError || err instanceof BodyIncompleteError || err instanceof OutboxFullError || err instanceof OutboxStorageError) throw err
        // The caller's stream failed (hung up, reset): the body is incomplete.
        throw new BodyIncompleteError(sink.size, limits.expectedLength)
      }
      if (source.readableAborted) throw new BodyIncompleteError(sink.size, limits.expectedLength)
      if (limits.expectedLength !== undefined && sink.size !== limits.expectedLength) throw new BodyIncompleteError(sink.size, limits.expectedLength)
      try {
        await file.sync()
      } catch (err) {
        throw new OutboxStorageError(errnoCode(err), err)
      }
      return { bytes: sink.size, sha256: sink.digest() }
    } finally {
      await file.close().catch(() => {})
    }
  }

  /**
   * Writes the record to tmp/, fsyncs it, renames body then record into queue/ (the
   * record's rename is the commit point) and fsyncs queue/. Resolves once both survive a crash.
   */
  async commit (record: StoredRecord): Promise<void> {
    const id = record.id
    try {
      await writeFileSynced(join(this.tmp, `${id}.json`), serialize(record))
      await rename(join(this.tmp, id), join(this.queue, id))
      await rename(join(this.tmp, `${id}.json`), join(this.queue, `${id}.json`))
      await this.queueSync.sync()
    } catch (err) {
      throw new OutboxStorageError(errnoCode(err), err)
    }
  }

  /** Removes every file an accept that failed may have left, wherever it got to. */
  async discard (id: string): Promise<void> {
    for (const path of [join(this.queue, `${id}.json`), join(this.queue, id), join(this.tmp, `${id}.json`), join(this.tmp, id)]) {
      await unlink(path).catch(() => {})
    }
    await this.queueSync.sync().catch(() => {})
  }

  /** Replaces a queued record by a new state, durably (write, fsync, rename over, fsync queue/). */
  async update (record: StoredRecord): Promise<void> {
    const tmp = join(this.tmp, `${record.id}.json.${++this.updates}`)
    try {
      await writeFileSynced(tmp, serialize(record))
      await rename(tmp, join(this.queue, `${record.id}.json`))
    } catch (err) {
      await unlink(tmp).catch(() => {})
      throw err
    }
    await this.queueSync.sync()
  }

  /**
   * Settles a delivery: its record goes to done/ (fsynced), then its body and queue record
   * are removed. A crash in between leaves both; open() lets done/ win.
   */
  async settle (record: StoredRecord): Promise<void> {
    await this.writeSettled(record)
    await unlink(join(this.queue, `${record.id}.json`)).catch(() => {})
    await unlink(join(this.queue, record.id)).catch(() => {})
  }

  /** A settled record as on disk, or undefined. */
  async readSettled (id: string): Promise<StoredRecord | undefined> {
    const text = await readFile(join(this.done, `${id}.json`), 'utf8').catch(() => undefined)
    if (text === undefined) return undefined
    const record = parseRecord(text, id, SETTLED_STATES)
    return typeof record === 'string' ? undefined : record
  }

  async removeSettled (id: string): Promise<void> {
    await unlink(join(this.done, `${id}.json`)).catch(() => {})
  }

  /** Moves a delivery's files (body and record, as they are) from queue/ to corrupt/. */
  async setAside (id: string): Promise<void> {
    for (const name of [id, `${id}.json`]) await this.moveToCorrupt(this.queue, name)
    await fsyncDir(this.corrupt)
    await this.queueSync.sync()
  }

  /**
   * Reads what a previous process left: clears tmp/, drops queue/ leftovers of settled
   * deliveries and bodies without a record (never acknowledged), sets aside torn or
   * mismatching records and bodies, prunes settled records older than keepSettledMs.
   */
  async recover (keepSettledMs: number, now: number): Promise<Recovered> {
    const report: RecoveryReport = { queued: 0, reconciling: 0, failed: 0, settled: 0, discarded: 0, corrupt: [] }
    for (const name of await readdir(this.tmp)) {
      await unlink(join(this.tmp, name)).catch(() => {})
      // Record updates (<id>.json.<n>) never were the record; only interrupted accepts count.
      if (!/\.json\.\d+$/.test(name) && !name.endsWith('.json')) report.discarded++
    }

    const settled = new Map<string, StoredRecord>()
    for (const name of await readdir(this.done)) {
      const id = name.endsWith('.json') ? name.slice(0, -5) : ''
      if (!ID_PATTERN.test(id)) {
        await this.moveToCorrupt(this.done, name)
        report.corrupt.push({ file: `done/${name}`, reason: 'not an outbox file' })
        continue
      }
      const parsed = parseRecord(await readFile(join(this.done, name), 'utf8').catch(() => ''), id, SETTLED_STATES)
      if (typeof parsed === 'string') {
        await this.moveToCorrupt(this.done, name)
        report.corrupt.push({ file: `done/${name}`, id, reason: parsed })
        continue
      }
      if (now - settledAt(parsed) > keepSettledMs) {
        await this.removeSettled(id)
        continue
      }
      settled.set(id, parsed)
    }

    const names = new Set(await readdir(this.queue))
    const active: StoredRecord[] = []
    for (const name of names) {
      if (name.endsWith('.json')) {
        const id = name.slice(0, -5)
        if (ID_PATTERN.test(id)) {
          if (settled.has(id)) {
            // Settled before the crash; the leftovers were about to be removed.
            await unlink(join(this.queue, name)).catch(() => {})
            await unlink(join(this.queue, id)).catch(() => {})
            continue
          }
          const record = await this.checkQueued(id, names.has(id))
          if (typeof record === 'string') {
            await this.setAsideFound(id, names.has(id), record, report, settled, now)
            continue
          }
          active.push(record)
          if (record.state === 'failed') report.failed++
          else if (record.state === 'delivering' || record.reconcile === true) report.reconciling++
          else report.queued++
          continue
        }
      } else if (ID_PATTERN.test(name)) {
        // A body whose record never made it into queue/: that accept never resolved.
        if (!names.has(`${name}.json`)) {
          await unlink(join(this.queue, name)).catch(() => {})
          report.discarded++
        }
        continue
      }
      await this.moveToCorrupt(this.queue, name)
      report.corrupt.push({ file: `queue/${name}`, reason: 'not an outbox file' })
    }
    report.settled = settled.size
    await fsyncDir(this.queue)
    await fsyncDir(this.corrupt)
    await fsyncDir(this.done)
    return { active: active.sort((a, b) => a.id < b.id ? -1 : 1), settled: [...settled.values()], report }
  }

  /** The queued record, or why it cannot be trusted. */
  private async checkQueued (id: string, hasBody: boolean): Promise<StoredRecord | string> {
    const text = await readFile(join(this.queue, `${id}.json`), 'utf8').catch(() => undefined)
    if (text === undefined) return 'record unreadable'
    const record = parseRecord(text, id, QUEUE_STATES)
    if (typeof record === 'string') return record
    if (!hasBody) return 'body missing'
    const found = await hashFile(this.bodyPath(id)).catch(() => undefined)
    if (found === undefined) return 'body unreadable'
    if (found.bytes !== record.bytes) return `body has ${found.bytes} bytes, its record says ${record.bytes}`
    if (found.sha256.toString('base64') !== record.sha256) return 'body SHA-256 does not match its record'
    return record
  }

  private async setAsideFound (id: string, hasBody: boolean, reason: string, report: RecoveryReport, settled: Map<string, StoredRecord>, now: number): Promise<void> {
    // What the record says, when it can be read at all: its caller then sees the delivery failed.
    const text = await readFile(join(this.queue, `${id}.json`), 'utf8').catch(() => '')
    const parsed = parseRecord(text, id, QUEUE_STATES)
    await this.moveToCorrupt(this.queue, `${id}.json`)
    report.corrupt.push({ file: `queue/${id}.json`, id, reason })
    if (hasBody) {
      await this.moveToCorrupt(this.queue, id)
      report.corrupt.push({ file: `queue/${id}`, id, reason })
    }
    if (typeof parsed !== 'string') {
      const failed = corruptRecord(parsed, now)
      await this.writeSettled(failed).catch(() => {})
      settled.set(id, failed)
    }
  }

  async writeSettled (record: StoredRecord): Promise<void> {
    const tmp = join(this.tmp, `${record.id}.json.${++this.updates}`)
    try {
      await writeFileSynced(tmp, serialize(record))
      await rename(tmp, join(this.done, `${record.id}.json`))
    } catch (err) {
      await unlink(tmp).catch(() => {})
      throw err
    }
    await this.doneSync.sync()
  }

  private async moveToCorrupt (from: string, name: string): Promise<void> {
    let target = join(this.corrupt, name)
    if (await stat(target).then(() => true, () => false)) target = `${target}.${Date.now()}`
    await rename(join(from, name), target).catch(() => {})
  }
}

/** The failed, bodiless record of a delivery whose stored files were set aside. */
export function corruptRecord (record: StoredRecord, now: number): StoredRecord {
  const { nextAttemptAt: _next, reconcile: _reconcile, deliveredAt: _delivered, ...rest } = record
  return { ...rest, state: 'failed', lastError: { code: 'outbox-corrupt', title: 'The stored document was damaged and set aside; it was not delivered' }, settledAt: new Date(now).toISOString() }
}

function settledAt (record: StoredRecord): number {
  const at = record.settledAt ?? record.deliveredAt ?? record.acceptedAt
  const ms = Date.parse(at)
  return Number.isNaN(ms) ? 0 : ms
}

function serialize (record: StoredRecord): string {
  return JSON.stringify(record)
}

function isIso (value: unknown): boolean {
  return typeof value === 'string' && !Number.isNaN(Date.parse(value))
}

/** A record read from disk, checked field by field; a string says why it cannot be trusted. */
export function parseRecord (text: string, id: string, states: readonly DeliveryState[]): StoredRecord | string {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return 'record is not valid JSON (torn write)'
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'record is not an object'
  const r = value as Record<string, unknown>
  if (r.v !== 1) return 'record has an unknown version'
  if (r.id !== id) return 'record id does not match its file name'
  if (typeof r.state !== 'string' || !states.includes(r.state as DeliveryState)) return 'record state is not valid here'
  for (const field of ['caller', 'mailbox', 'filename'] as const) {
    if (typeof r[field] !== 'string') return `record ${field} missing`
  }
  if (typeof r.bytes !== 'number' || !Number.isSafeInteger(r.bytes) || r.bytes < 0) return 'record bytes not valid'
  if (typeof r.sha256 !== 'string' || Buffer.from(r.sha256, 'base64').length !== 32 || Buffer.from(r.sha256, 'base64').toString('base64') !== r.sha256) return 'record sha256 not valid'
  if (!isIso(r.acceptedAt)) return 'record acceptedAt not valid'
  if (typeof r.attempts !== 'number' || !Number.isSafeInteger(r.attempts) || r.attempts < 0) return 'record attempts not valid'
  for (const field of ['nextAttemptAt', 'deliveredAt', 'requeuedAt', 'settledAt'] as const) {
    if (r[field] !== undefined && !isIso(r[field])) return `record ${field} not valid`
  }
  return r as unknown as StoredRecord
}

/** Size and SHA-256 of a file. */
export async function hashFile (path: string): Promise<WrittenBody> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 256 * 1024 })) {
    bytes += (chunk as Buffer).length
    hash.update(chunk as Buffer)
  }
  return { bytes, sha256: hash.digest() }
}

/** Writes a caller's bytes to the open tmp file, enforcing the document limit and the outbox capacity. */
class FileSink extends Writable {
  size = 0
  private readonly hash = createHash('sha256')

  constructor (private readonly file: FileHandle, private readonly limits: BodyLimits) {
    super({ highWaterMark: 256 * 1024 })
  }

  override _write (chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.size += chunk.length
    const { maxBytes, expectedLength } = this.limits
    if (this.size > maxBytes) return cb(new BodyTooLargeError(maxBytes))
    if (expectedLength !== undefined && this.size > expectedLength) return cb(new BodyIncompleteError(this.size, expectedLength))
    if (!this.limits.reserve(chunk.length)) return cb(new OutboxFullError(this.limits.capacity))
    this.hash.update(chunk)
    this.writeAll(chunk).then(() => cb(), (err: unknown) => cb(new OutboxStorageError(errnoCode(err), err)))
  }

  private async writeAll (chunk: Buffer): Promise<void> {
    let offset = 0
    while (offset < chunk.length) {
      const { bytesWritten } = await this.file.write(chunk, offset, chunk.length - offset)
      offset += bytesWritten
    }
  }

  digest (): Buffer {
    return this.hash.digest()
  }
}
