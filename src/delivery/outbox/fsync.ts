// Small durable-write helpers: a file written and fsynced, a directory fsynced (so a rename
// into it survives a crash), and a coalescing directory sync for concurrent commits.
import { open } from 'node:fs/promises'

export async function fsyncDir (path: string): Promise<void> {
  const dir = await open(path, 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

/** Writes data to a new file and fsyncs it before closing. */
export async function writeFileSynced (path: string, data: string | Buffer): Promise<void> {
  const file = await open(path, 'w', 0o600)
  try {
    await file.writeFile(data)
    await file.sync()
  } finally {
    await file.close()
  }
}

/**
 * fsyncs one directory for many writers: sync() resolves after an fsync that started after
 * the call, so a rename done before sync() is durable when it resolves. Callers arriving while
 * one fsync runs share the next one (group commit) instead of each paying for their own.
 */
export class DirSync {
  private running: Promise<void> | undefined
  private waiting: Promise<void> | undefined

  constructor (readonly path: string) {}

  async sync (): Promise<void> {
    if (this.running === undefined) return await this.start()
    this.waiting ??= this.running.then(noop, noop).then(async () => {
      this.waiting = undefined
      await this.start()
    })
    return await this.waiting
  }

  private async start (): Promise<void> {
    const run: Promise<void> = fsyncDir(this.path).finally(() => {
      if (this.running === run) this.running = undefined
    })
    this.running = run
    return await run
  }
}

function noop (): void {}

/** The errno code of a file-system error, 'EIO' when there is none. */
export function errnoCode (err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : 'EIO'
}
