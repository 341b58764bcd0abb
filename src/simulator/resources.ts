// JSON representations, shaped exactly like the samples in Cleo's walkthrough.
import type { Folder, Mailbox, StoredFile } from './store.js'

export interface ListEnvelope<T> {
  totalResults: number
  startIndex: number
  count: number
  resources: T[]
}

export function listEnvelope<T> (all: readonly T[], startIndex: number, count: number): ListEnvelope<T> {
  const resources = all.slice(startIndex, startIndex + count)
  return { totalResults: all.length, startIndex, count: resources.length, resources }
}

const folderHref = (id: string): string => `/api/folders/${id}`

export function folderResource (folder: Folder): Record<string, unknown> {
  const links = { self: { href: folderHref(folder.id) } }
  const meta = { lastModified: folder.lastModified }
  switch (folder.kind) {
    case 'home':
      return {
        type: 'folder',
        space: 'home',
        id: folder.id,
        name: folder.name,
        permissions: [],
        systemProtected: { delete: false, rename: false },
        _links: links,
        meta
      }
    case 'download':
    case 'upload':
      return {
        type: 'folder',
        space: 'home',
        subspace: folder.kind,
        id: folder.id,
        name: folder.name,
        permissions: [folder.kind],
        systemProtected: { delete: true, rename: true },
        _links: links,
        meta
      }
    case 'archive':
      // A folder the partner created by hand: no subspace, nothing system-protected.
      return {
        type: 'folder',
        space: 'home',
        id: folder.id,
        name: folder.name,
        permissions: ['download'],
        systemProtected: { delete: false, rename: false },
        _links: links,
        meta
      }
  }
}

/** CIC answers an upload with length 0 and the epoch as lastModified: it does not echo the size. */
export function fileResource (mailbox: Mailbox, folder: Folder, file: StoredFile): Record<string, unknown> {
  return {
    space: 'home',
    subspace: 'upload',
    id: file.id,
    parentId: folder.id,
    name: file.name,
    length: 0,
    path: [
      { href: folderHref(mailbox.home.id), id: mailbox.home.id, name: mailbox.username },
      { href: folderHref(folder.id), id: folder.id, name: folder.name }
    ],
    permissions: ['overwrite', 'delete'],
    systemProtected: { delete: false, rename: false },
    _links: { self: { href: `/api/files/${file.id}` }, parent: { href: folderHref(folder.id) } },
    meta: { lastModified: '1970-01-01T00:00:00.000Z' }
  }
}
