// Every package src/ imports must be a production dependency. A package that is only a
// devDependency, or only there because npm hoisted another package's copy, is missing
// from `npm ci --omit=dev` (the container image) or changes version behind our back.
import { readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const repoRoot = fileURLToPath(new URL('..', import.meta.url))
const srcDir = join(repoRoot, 'src')

/** The module specifiers of static imports and re-exports, `import type` included, and of dynamic import('…'). */
function importSpecifiers (source: string): string[] {
  // Comments out first, so a commented-out import neither counts nor hides a real one.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1')
  const specifiers: string[] = []
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[\w*${}\s,]*?\bfrom\s*(['"])([^'"]+)\1/g, // import x from 'm', export { x } from 'm'
    /\bimport\s*(['"])([^'"]+)\1/g, // import 'm' (side effects only)
    /\bimport\s*\(\s*(['"])([^'"]+)\1\s*[,)]/g // import('m')
  ]
  for (const pattern of patterns) {
    for (const m of code.matchAll(pattern)) specifiers.push(m[2]!)
  }
  return specifiers
}

/** The npm package a bare specifier names; undefined for relative paths and Node builtins. */
function packageName (specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('#')) return undefined
  if (specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!)) return undefined
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

function tsFiles (dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter(e => e.isFile() && e.name.endsWith('.ts'))
    .map(e => join(e.parentPath, e.name))
}

t.test('the import scanner sees every form of import, and maps specifiers to packages', async t => {
  const source = [
    "import { Ajv, type ErrorObject } from 'ajv'",
    "import type { Redis } from 'ioredis'",
    "import * as undici from 'undici'",
    "import fp from '@fastify/under-pressure/sub/path.js'",
    'import {',
    '  a,',
    '  b',
    '} from "multi-line"',
    "export { x } from 'reexported'",
    "export * from 'star-reexport'",
    "import 'side-effect'",
    "const m = await import('dynamic')",
    "// import x from 'commented-out'",
    "/* import y from 'block-commented' */",
    "const url = 'http://example.com' // import z from 'after-url'",
    "import { local } from './local.js'",
    "import { readFile } from 'node:fs/promises'",
    "import { EventEmitter } from 'events'"
  ].join('\n')
  const names = importSpecifiers(source).map(packageName).filter(n => n !== undefined).sort()
  t.same(names, ['@fastify/under-pressure', 'ajv', 'dynamic', 'ioredis', 'multi-line', 'reexported', 'side-effect', 'star-reexport', 'undici'].sort())
})

t.test('every package imported by src/ is declared in dependencies (not only in devDependencies)', async t => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>, devDependencies?: Record<string, string> }
  const dependencies = new Set(Object.keys(pkg.dependencies ?? {}))
  const importers = new Map<string, string[]>()
  for (const file of tsFiles(srcDir)) {
    for (const specifier of importSpecifiers(readFileSync(file, 'utf8'))) {
      const name = packageName(specifier)
      if (name === undefined) continue
      importers.set(name, [...(importers.get(name) ?? []), relative(repoRoot, file)])
    }
  }
  t.ok(importers.has('fastify'), 'the scan finds src/\'s imports (fastify among them)')
  for (const [name, files] of [...importers].sort(([a], [b]) => a.localeCompare(b))) {
    const where = pkg.devDependencies?.[name] !== undefined ? 'only in devDependencies' : 'not in package.json'
    t.ok(dependencies.has(name), `${name} is in dependencies`, dependencies.has(name) ? {} : { problem: `${name} is ${where}`, importedBy: [...new Set(files)] })
  }
})
