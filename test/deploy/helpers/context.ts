// The Docker build context as .dockerignore shapes it (moby's patternmatcher semantics:
// filepath.Match globs plus "**", "!" exceptions, last match wins, a pattern that matches a
// parent directory matches everything under it).
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises'
import { dirname, join, posix } from 'node:path'

interface Pattern {
  exclusion: boolean
  text: string
  regexp: RegExp
}

function toRegExp (pattern: string): RegExp {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++
        if (pattern[i + 1] === '/') {
          i++
          re += '(?:.*/)?'
        } else {
          re += '.*'
        }
      } else {
        re += '[^/]*'
      }
    } else if (c === '?') {
      re += '[^/]'
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 1)
      if (end === -1) throw new Error(`bad .dockerignore pattern: ${pattern}`)
      re += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`
      i = end
    } else if (c === '\\') {
      re += `\\${pattern[++i] ?? ''}`
    } else {
      re += c.replace(/[.+^${}()|\]\\]/g, '\\$&')
    }
  }
  return new RegExp(`^${re}$`)
}

export function parseDockerignore (text: string): Pattern[] {
  return text.split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const exclusion = line.startsWith('!')
      let text = (exclusion ? line.slice(1) : line).trim()
      text = posix.normalize(text).replace(/^\/+/, '').replace(/\/+$/, '')
      return { exclusion, text, regexp: toRegExp(text) }
    })
}

/** Whether the path (relative, with "/") is left out of the context. */
export function excluded (patterns: Pattern[], path: string): boolean {
  const parents: string[] = []
  for (let dir = posix.dirname(path); dir !== '.'; dir = posix.dirname(dir)) parents.unshift(dir)
  let result = false
  for (const p of patterns) {
    if (p.regexp.test(path) || parents.some((parent) => p.regexp.test(parent))) result = !p.exclusion
  }
  return result
}

/** Relative paths of the files the context holds. */
export async function contextFiles (root: string): Promise<string[]> {
  let text = ''
  try {
    text = await readFile(join(root, '.dockerignore'), 'utf8')
  } catch {}
  const patterns = parseDockerignore(text)
  const exceptions = patterns.filter((p) => p.exclusion)
  const files: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
      const path = dir === '' ? entry.name : `${dir}/${entry.name}`
      if (entry.isDirectory()) {
        // Like Docker, skip an excluded directory unless an exception may reach inside it.
        if (excluded(patterns, path) && !exceptions.some((p) => p.text.startsWith(`${path}/`) || p.text.startsWith('**'))) continue
        await walk(path)
      } else if (entry.isFile() && !excluded(patterns, path)) {
        files.push(path)
      }
    }
  }
  await walk('')
  return files.sort()
}

export async function copyContext (root: string, destination: string): Promise<string[]> {
  const files = await contextFiles(root)
  for (const file of files) {
    await mkdir(dirname(join(destination, file)), { recursive: true })
    await copyFile(join(root, file), join(destination, file))
  }
  return files
}
