// Handlers for login and folder discovery.
import { readBody } from './body.js'
import { authenticate, type Context } from './context.js'
import type { Exchange } from './exchange.js'
import { fileResource, folderResource, listEnvelope } from './resources.js'

const LOGIN_BODY_LIMIT = 64 * 1024
const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(;|$)/i

/** POST /api/authentication with `grant_type=password&username=U&password=P`. */
export async function login (ctx: Context, ex: Exchange): Promise<void> {
  if (!FORM_TYPE.test(ex.req.headers['content-type'] ?? '')) {
    return ex.reject(415, 'Content-Type must be application/x-www-form-urlencoded')
  }
  const body = await readBody(ex.req, {
    expected: contentLength(ex),
    limit: LOGIN_BODY_LIMIT,
    keep: true,
    hash: false
  })
  if (body.kind === 'too-large') return ex.error(413, 'Request body too large', { close: true })
  if (body.kind !== 'complete') return ex.drop()

  // URLSearchParams applies form decoding: '+' is a space, so clients must percent-encode '+', '&', '%'.
  const form = new URLSearchParams(body.body!.toString('utf8'))
  if (form.get('grant_type') !== 'password') return ex.error(400, 'Unsupported grant_type')
  const username = form.get('username')
  const password = form.get('password')
  if (!username || password === null) return ex.error(400, 'username and password are required')
  const mailbox = ctx.store.authenticate(username, password)
  if (!mailbox) return ex.error(401, 'Invalid username or password')

  const token = ctx.tokens.issue(mailbox.userId, ctx.settings.tokenLifetimeSeconds)
  return ex.json(200, { token_type: 'bearer', access_token: token, user_id: mailbox.userId })
}

/** GET /api/folders: the mailbox's home folder. */
export function folders (ctx: Context, ex: Exchange, query: URLSearchParams): Promise<void> {
  const mailbox = authenticate(ctx, ex.req.headers.authorization)
  if (typeof mailbox === 'string') return ex.error(401, mailbox)
  const paging = parsePaging(ctx, query)
  if (typeof paging === 'string') return ex.error(400, paging)
  return ex.json(200, listEnvelope([folderResource(mailbox.home)], paging.startIndex, paging.count))
}

/** GET /api/folders/{id}/children?startIndex=N&count=K: paged, `count` capped at pageSize. */
export function children (ctx: Context, ex: Exchange, folderId: string, query: URLSearchParams): Promise<void> {
  const mailbox = authenticate(ctx, ex.req.headers.authorization)
  if (typeof mailbox === 'string') return ex.error(401, mailbox)
  const folder = ctx.store.folder(folderId)
  // Another mailbox's folder is as invisible as a missing one.
  if (!folder || folder.username !== mailbox.username) return ex.error(404, 'Folder not found')
  const paging = parsePaging(ctx, query)
  if (typeof paging === 'string') return ex.error(400, paging)
  // Sub-folders of home; in the upload folder, the files received so far (as the Cleo Portal shows them).
  const all = folder.kind === 'upload'
    ? ctx.store.filesIn(folder.id).map(file => fileResource(mailbox, folder, file))
    : ctx.store.children(folder).map(folderResource)
  return ex.json(200, listEnvelope(all, paging.startIndex, paging.count))
}

function parsePaging (ctx: Context, query: URLSearchParams): { startIndex: number, count: number } | string {
  const startIndex = parseIndex(query.get('startIndex'), 0)
  const count = parseIndex(query.get('count'), ctx.settings.pageSize)
  if (startIndex === undefined) return 'Invalid startIndex'
  if (count === undefined) return 'Invalid count'
  return { startIndex, count: Math.min(count, ctx.settings.pageSize) }
}

function parseIndex (raw: string | null, fallback: number): number | undefined {
  if (raw === null || raw === '') return fallback
  return /^\d{1,9}$/.test(raw) ? Number(raw) : undefined
}

/** The declared body length; undefined for chunked or bodiless requests. */
export function contentLength (ex: Exchange): number | undefined {
  const raw = ex.req.headers['content-length']
  return raw === undefined ? undefined : Number(raw)
}
