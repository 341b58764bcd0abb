// No module of src/ imports itself through others: a cycle (even one through `import type`)
// means two modules are one concern split in two, and at run time it can hand a module
// another's bindings before they are initialised.
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'

const SRC = join(import.meta.dirname, '..', 'src')

// `import x from './a.js'`, `import type { X } from './a.js'`, `export * from './a.js'`,
// `import './a.js'`, `import('./a.js')`: every relative specifier, type-only ones included.
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g

/** The relative imports of a module, as paths of .ts files relative to the same root. */
function relativeImports (file: string, text: string): string[] {
  const out: string[] = []
  for (const match of text.matchAll(IMPORT)) {
    const target = normalize(join(dirname(file), match[1]!)).replace(/\.js$/, '.ts')
    out.push(target.endsWith('.ts') ? target : `${target}.ts`)
  }
  return out
}

/** Every cycle found by a depth-first walk, each as the list of modules that close it. */
function findCycles (graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = []
  const done = new Set<string>()
  const stack: string[] = []
  const visit = (node: string): void => {
    const at = stack.indexOf(node)
    if (at !== -1) {
      cycles.push([...stack.slice(at), node])
      return
    }
    if (done.has(node)) return
    stack.push(node)
    for (const next of graph.get(node) ?? []) visit(next)
    stack.pop()
    done.add(node)
  }
  for (const node of [...graph.keys()].sort()) visit(node)
  return cycles
}

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

t.test('no import cycle anywhere in src/', async t => {
  const graph = new Map<string, string[]>()
  for (const path of sourceFiles(SRC)) {
    const file = relative(SRC, path)
    graph.set(file, relativeImports(file, readFileSync(path, 'utf8')))
  }
  t.ok(graph.size > 20, `${graph.size} modules read`)
  const missing = [...graph].flatMap(([file, targets]) => targets.filter(x => !graph.has(x)).map(x => `${file} -> ${x}`))
  t.same(missing, [], 'every relative import names a module of src/ (the parser understood them)')
  const cycles = findCycles(graph)
  t.same(cycles.map(c => c.join(' -> ')), [], 'no cycle')
})

t.test('the check finds a cycle, even one closed by a type-only import', async t => {
  // The shape src/config.ts and src/config-file.ts had: each imported the other.
  const files = {
    'config.ts': "import envSchema from 'env-schema'\nimport { loadConfigFile } from './config-file.js'\nimport { readSecretFile } from './secret-file.js'\n",
    'config-file.ts': "import { Ajv } from 'ajv'\nimport type { CallerConfig, MailboxConfig } from './config.js'\nimport { readSecretFile } from './secret-file.js'\n",
    'secret-file.ts': "import { readFileSync } from 'node:fs'\n",
    'http/app.ts': "export { x } from '../config.js'\nconst lazy = await import('./routes.js')\n",
    'http/routes.ts': ''
  }
  const graph = new Map(Object.entries(files).map(([file, text]) => [file, relativeImports(file, text)]))
  t.same(graph.get('http/app.ts'), ['config.ts', 'http/routes.ts'], 're-exports and dynamic imports are edges too')
  t.same(findCycles(graph), [['config-file.ts', 'config.ts', 'config-file.ts']])
})
