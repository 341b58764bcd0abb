import { readFileSync } from 'node:fs'

/**
 * Reads a mounted secret: the file's contents without the trailing newline most tools add.
 * Problems name the file, never its contents.
 */
export function readSecretFile (path: string, label: string, problems: string[]): string | undefined {
  try {
    const value = readFileSync(path, 'utf8').replace(/\r?\n$/, '')
    if (value === '') {
      problems.push(`${label} (${path}) is empty`)
      return undefined
    }
    return value
  } catch (err) {
    problems.push(`${label} (${path}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    return undefined
  }
}
