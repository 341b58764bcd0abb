// POST /api/folders/{uploadId}/files: the raw body becomes a file in the upload folder.
import contentDisposition from 'content-disposition'
import { contentLength } from './api.js'
import { readBody } from './body.js'
import { authenticate, type Context } from './context.js'
import type { Exchange } from './exchange.js'
import { fileResource } from './resources.js'
import type { Folder, Mailbox } from './store.js'

const MAX_NAME_LENGTH = 255
// Path separators and control characters: a partner cannot create such names in the portal either.
// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const BAD_NAME = /[/\\\u0000-\u001f\u007f]/

/** The filename of `attachment;filename=...` (or `filename*=UTF-8''...`), if present and acceptable. */
export function filenameOf (header: string | undefined): string | undefined {
  if (!header) return undefined
  let name: string | undefined
  try {
    name = contentDisposition.parse(header).parameters.filename
  } catch {
    return undefined
  }
  if (!name || name === '.' || name === '..' || name.length > MAX_NAME_LENGTH || BAD_NAME.test(name)) return undefined
  return name
}

export async function upload (ctx: Context, ex: Exchange, folderId: string): Promise<void> {
  const { req } = ex
  const settings = ctx.settings

  // Everything that can be refused from the headers is refused before a body byte is read.
  const mailbox = authenticate(ctx, req.headers.authorization)
  if (typeof mailbox === 'string') return ex.reject(401, mailbox)
  const folder = ctx.store.folder(folderId)
  if (!folder || folder.username !== mailbox.username) return ex.reject(404, 'Folder not found')
  if (folder.kind !== 'upload') return ex.reject(403, 'Uploads are not allowed in this folder')
  const name = filenameOf(req.headers['content-disposition'])
  if (name === undefined) return ex.reject(400, 'Content-Disposition with a valid filename is required')
  const allowed = settings.allowedExtensions
  if (allowed && !allowed.some((ext) => name.toLowerCase().endsWith(ext))) {
    return ex.reject(400, 'File type not allowed')
  }
  const expected = contentLength(ex)
  if (expected === undefined && settings.chunkedUploads === 'reject') return ex.reject(411, 'Length Required')
  const limit = settings.maxFileBytes
  if (limit !== undefined && expected !== undefined && expected > limit) return ex.reject(413, 'File too large')
  if (settings.sameNamePolicy === 'reject' && ctx.store.hasFile(folder.id, name)) {
    return ex.reject(409, 'File already exists')
  }

  const burst = settings.maxConcurrentUploads
  const running = ctx.uploading.get(mailbox.username) ?? 0
  if (burst !== undefined && running >= burst) {
    ex.res.setHeader('retry-after', '1')
    return ex.reject(429, 'Too many requests')
  }
  ctx.uploading.set(mailbox.username, running + 1)
  try {
    return await receive(ctx, ex, mailbox, folder, name, expected)
  } finally {
    const left = (ctx.uploading.get(mailbox.username) ?? 1) - 1
    if (left > 0) ctx.uploading.set(mailbox.username, left)
    else ctx.uploading.delete(mailbox.username)
  }
}

/** The body read and stored, once every header check has passed. */
async function receive (ctx: Context, ex: Exchange, mailbox: Mailbox, folder: Folder, name: string, expected: number | undefined): Promise<void> {
  const { req } = ex
  const settings = ctx.settings
  const limit = settings.maxFileBytes
  const fault = ex.fault
  if (fault?.drop === 'mid-body' && expected === 0) return ex.drop()
  const stallMs = fault?.stallBody === true ? fault.delayMs : undefined
  const keep = settings.keepBodies
  const body = await readBody(req, {
    expected,
    limit,
    keep,
    stallMs,
    // "Mid-body": about half of what was announced (the first chunk when the length is unknown).
    dropAfter: fault?.drop === 'mid-body' ? Math.max(1, Math.floor((expected ?? 0) / 2)) : undefined
  })
  // The stall used the fault's delay, unless there was no body byte to stall after.
  ex.delaySpent = stallMs !== undefined && (body.kind !== 'complete' || body.firstByteAt !== undefined)
  if (body.kind === 'too-large') return ex.error(413, 'File too large', { close: true })
  if (body.kind !== 'complete') return ex.drop() // nothing is stored for an incomplete body

  const receivedAt = Date.now()
  const file = ctx.store.commit(
    {
      folderId: folder.id,
      username: mailbox.username,
      requestedName: name,
      size: body.bytes,
      sha256: body.sha256,
      startedAt: ex.startedAt,
      firstByteAt: body.firstByteAt ?? receivedAt,
      receivedAt,
      headers: { ...req.headers },
      ...(keep ? { data: body.body } : {})
    },
    settings.sameNamePolicy
  )
  // A concurrent upload of the same name may have won since the check above.
  if (!file) return ex.error(409, 'File already exists')
  return ex.json(201, fileResource(mailbox, folder, file))
}
