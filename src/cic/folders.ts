// Upload-folder resolver: home folder from GET /api/folders, then its children paged until
// the configured upload folder is found. Memoized per account, single-flight, forgotten
// when CIC answers 404 for it.
import { noop, type IPolicy } from 'cockatiel'
import { LRUCache } from 'lru-cache'
import type { CallOptions, CicAccount, CicClient, CicResource } from './client.js'
import { CicError } from './errors.js'
import { accountKey } from './tokens.js'

export interface FolderTarget extends CicAccount {
  /** Matched against each child's `subspace` first, then its `name`. */
  uploadFolder: string
}

interface ResolveContext {
  target: FolderTarget
  token: string
  /** The request that triggered the lookup, forwarded to CIC and logged. */
  requestId: string | undefined
}

const PAGE_SIZE = 100
const MAX_PAGES = 1000

export class FolderResolver {
  private readonly cache: LRUCache<string, string, ResolveContext>

  constructor (private readonly client: CicClient, private readonly retry: IPolicy = noop, onResolved?: (target: FolderTarget, folderId: string, requestId: string | undefined) => void) {
    this.cache = new LRUCache<string, string, ResolveContext>({
      max: 1000,
      fetchMethod: async (_key, _stale, { context }) => {
        const id = await this.resolve(context.target, context.token, { requestId: context.requestId })
        onResolved?.(context.target, id, context.requestId)
        return id
      }
    })
  }

  async get (target: FolderTarget, token: string, opts: CallOptions = {}): Promise<string> {
    const id = await this.cache.fetch(this.key(target), { context: { target, token, requestId: opts.requestId } })
    if (id === undefined) throw new Error('folder cache returned nothing')
    return id
  }

  /** Forget a folder id CIC no longer knows (it answered 404), so the next call looks it up again. */
  forget (target: FolderTarget, folderId: string): void {
    const key = this.key(target)
    if (this.cache.peek(key) === folderId) this.cache.delete(key)
  }

  has (target: FolderTarget): boolean {
    return this.cache.has(this.key(target))
  }

  private key (target: FolderTarget): string {
    return `${accountKey(target)}\u0000${target.uploadFolder}`
  }

  private async resolve (target: FolderTarget, token: string, opts: CallOptions): Promise<string> {
    const roots = await this.retry.execute(async () => await this.client.listFolders(target.baseUrl, token, opts))
    const home = roots.resources.find(r => r.space === 'home') ?? roots.resources[0]
    if (home === undefined) {
      throw new CicError({ kind: 'protocol', operation: 'folders', message: 'CIC lists no home folder for this mailbox' })
    }
    let byName: CicResource | undefined
    let startIndex = 0
    for (let page = 0; page < MAX_PAGES; page++) {
      const list = await this.retry.execute(async () => await this.client.listChildren(target.baseUrl, token, home.id, startIndex, PAGE_SIZE, opts))
      for (const child of list.resources) {
        if (child.type !== undefined && child.type !== 'folder') continue
        if (child.subspace === target.uploadFolder) return child.id
        if (byName === undefined && child.name === target.uploadFolder) byName = child
      }
      startIndex += list.resources.length
      if (list.resources.length === 0 || startIndex >= list.totalResults) break
    }
    if (byName !== undefined) return byName.id
    throw new CicError({ kind: 'protocol', operation: 'children', message: `the mailbox has no folder named "${target.uploadFolder}"` })
  }
}
