// One CIC partner mailbox: its account, cached token and upload folder, and the upload
// with the one recovery CIC's protocol allows: a revoked token or a forgotten folder is
// refreshed and the upload sent again, only if the body was kept.
import type { UploadBody } from './body.js'
import type { CallOptions, CicClient, UploadResult } from './client.js'
import { CicError } from './errors.js'
import type { FolderResolver, FolderTarget } from './folders.js'
import type { TokenCache } from './tokens.js'

export interface MailboxTarget extends FolderTarget {
  name: string
}

export interface MailboxUploadResult extends UploadResult {
  attempts: number
}

export class CicMailbox {
  constructor (
    readonly target: MailboxTarget,
    private readonly client: CicClient,
    private readonly tokens: TokenCache,
    private readonly folders: FolderResolver
  ) {}

  get name (): string {
    return this.target.name
  }

  /** Logs in and resolves the upload folder (from cache when possible). */
  async prepare (): Promise<{ token: string, folderId: string }> {
    for (let attempt = 1; ; attempt++) {
      const token = await this.tokens.get(this.target)
      try {
        return { token, folderId: await this.folders.get(this.target, token) }
      } catch (err) {
        // A token revoked between login and folder lookup: renew it once.
        if (attempt === 1 && err instanceof CicError && err.status === 401) {
          this.tokens.invalidate(this.target, token)
          continue
        }
        throw err
      }
    }
  }

  /** True when a token and the upload folder are cached, so an upload needs no extra calls. */
  isWarm (): boolean {
    return this.tokens.has(this.target) && this.folders.has(this.target)
  }

  async upload (filename: string, body: UploadBody, opts: CallOptions = {}): Promise<MailboxUploadResult> {
    for (let attempt = 1; ; attempt++) {
      const { token, folderId } = await this.prepare()
      try {
        const result = await this.client.upload(this.target.baseUrl, token, folderId, filename, body, opts)
        return { ...result, attempts: attempt }
      } catch (err) {
        if (!(err instanceof CicError) || err.kind !== 'status') throw err
        if (err.status === 401) this.tokens.invalidate(this.target, token)
        else if (err.status === 404) this.folders.forget(this.target, folderId)
        else throw err
        // One replay, and only with the same bytes from the start.
        if (attempt >= 2 || !body.replayable) throw err
      }
    }
  }
}
