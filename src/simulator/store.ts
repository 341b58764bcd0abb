// Mailboxes, folders and received files, all in memory.
import { randomBytes, randomUUID } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { SameNamePolicy, SimulatorAccount } from './options.js'

export type FolderKind = 'home' | 'download' | 'upload' | 'archive'

export interface Folder {
  id: string
  username: string
  kind: FolderKind
  name: string
  lastModified: string
}

export interface Mailbox {
  username: string
  password: string
  userId: string
  home: Folder
  download: Folder
  upload: Folder
  archives: Folder[]
}

export interface StoredFile {
  id: string
  folderId: string
  username: string
  /** Name the file was stored under (differs from requestedName under the 'rename' policy). */
  name: string
  requestedName: string
  /** Bytes received (always equal to the request's Content-Length). */
  size: number
  /** sha256 hex of the bytes received. */
  sha256: string
  /** ms timestamps: request headers arrived, first body byte arrived (= receivedAt for an empty body), body complete. */
  startedAt: number
  firstByteAt: number
  receivedAt: number
  /** Request headers, lower-cased names. */
  headers: IncomingHttpHeaders
  /** The bytes, only when the keepBodies option is on. */
  data?: Buffer
}

export type NewFile = Omit<StoredFile, 'id' | 'name'>

/**
 * CIC ids look like base64url of a hex digest ("MjIyODFj..."). Clients must treat them as opaque,
 * so they are random here: nothing can be derived from them.
 */
function newId (bytes: number): string {
  return Buffer.from(randomBytes(bytes).toString('hex')).toString('base64url')
}

export class Store {
  readonly #mailboxes = new Map<string, Mailbox>()
  readonly #byUserId = new Map<string, Mailbox>()
  readonly #folders = new Map<string, Folder>()
  // Keyed by `${folderId}/${name}`; Map order = storage order (an overwrite moves the file to the end).
  readonly #files = new Map<string, StoredFile>()

  constructor (accounts: readonly SimulatorAccount[]) {
    for (const account of accounts) {
      if (typeof account.username !== 'string' || account.username === '' || typeof account.password !== 'string') {
        throw new TypeError('each simulator account needs a username and a password')
      }
      if (this.#mailboxes.has(account.username)) throw new TypeError(`duplicate simulator account ${account.username}`)
      const mailbox: Mailbox = {
        username: account.username,
        password: account.password,
        userId: randomUUID(),
        home: this.#newFolder(account.username, 'home', account.username),
        download: this.#newFolder(account.username, 'download', 'download'),
        upload: this.#newFolder(account.username, 'upload', 'upload'),
        archives: []
      }
      this.#mailboxes.set(mailbox.username, mailbox)
      this.#byUserId.set(mailbox.userId, mailbox)
      this.addChildren(mailbox.username, account.extraChildren ?? 0)
    }
  }

  #newFolder (username: string, kind: FolderKind, name: string): Folder {
    const folder: Folder = { id: newId(32), username, kind, name, lastModified: new Date().toISOString() }
    this.#folders.set(folder.id, folder)
    return folder
  }

  mailbox (username: string): Mailbox {
    const mailbox = this.#mailboxes.get(username)
    if (!mailbox) throw new Error(`no simulator account ${username}`)
    return mailbox
  }

  authenticate (username: string, password: string): Mailbox | undefined {
    const mailbox = this.#mailboxes.get(username)
    return mailbox && mailbox.password === password ? mailbox : undefined
  }

  byUserId (userId: string): Mailbox | undefined {
    return this.#byUserId.get(userId)
  }

  folder (id: string): Folder | undefined {
    return this.#folders.get(id)
  }

  /** Archives first, so that with enough of them the upload folder lands on a later page. */
  children (folder: Folder): Folder[] {
    if (folder.kind !== 'home') return []
    const mailbox = this.mailbox(folder.username)
    return [...mailbox.archives, mailbox.download, mailbox.upload]
  }

  addChildren (username: string, count: number): void {
    if (!Number.isSafeInteger(count) || count < 0) throw new TypeError('extra children must be a non-negative integer')
    const mailbox = this.mailbox(username)
    for (let i = 0; i < count; i++) {
      const name = `archive-${String(mailbox.archives.length + 1).padStart(4, '0')}`
      mailbox.archives.push(this.#newFolder(username, 'archive', name))
    }
  }

  /** New ids for every folder of the mailbox; the old ids become unknown (404). */
  recreateFolders (username: string): void {
    const mailbox = this.mailbox(username)
    for (const folder of [mailbox.home, mailbox.download, mailbox.upload, ...mailbox.archives]) {
      this.#folders.delete(folder.id)
    }
    mailbox.home = this.#newFolder(username, 'home', username)
    mailbox.download = this.#newFolder(username, 'download', 'download')
    mailbox.upload = this.#newFolder(username, 'upload', 'upload')
    mailbox.archives = mailbox.archives.map((a) => this.#newFolder(username, 'archive', a.name))
  }

  hasFile (folderId: string, name: string): boolean {
    return this.#files.has(`${folderId}/${name}`)
  }

  /** Stores a fully received file under the same-name policy; undefined = rejected as a duplicate. */
  commit (file: NewFile, policy: SameNamePolicy): StoredFile | undefined {
    let name = file.requestedName
    if (this.hasFile(file.folderId, name)) {
      if (policy === 'reject') return undefined
      if (policy === 'rename') name = this.#freeName(file.folderId, name)
    }
    const key = `${file.folderId}/${name}`
    const stored: StoredFile = { id: newId(48), name, ...file }
    this.#files.delete(key)
    this.#files.set(key, stored)
    return stored
  }

  /** `name (1).ext`, `name (2).ext`, ... like a desktop file manager. */
  #freeName (folderId: string, name: string): string {
    const dot = name.lastIndexOf('.')
    const [base, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, '']
    for (let n = 1; ; n++) {
      const candidate = `${base} (${n})${ext}`
      if (!this.hasFile(folderId, candidate)) return candidate
    }
  }

  /** Files held in one folder, oldest first (the upload folder lists what was received). */
  filesIn (folderId: string): StoredFile[] {
    return [...this.#files.values()].filter((f) => f.folderId === folderId)
  }

  files (username?: string): StoredFile[] {
    const all = [...this.#files.values()]
    return (username === undefined ? all : all.filter((f) => f.username === username)).map((f) => ({ ...f }))
  }

  clearFiles (): void {
    this.#files.clear()
  }
}
