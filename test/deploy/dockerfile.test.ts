// The Dockerfile and .dockerignore: linted by hadolint (a real Dockerfile parser), then the
// image's shape asserted. No Docker engine runs in CI; production-install.test.ts replays
// the build steps themselves.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { contextFiles, excluded, parseDockerignore } from './helpers/context.js'
import { parseDockerfile, parseEnv, stages, type Stage } from './helpers/dockerfile.js'
import { missingTools, repoRoot, run, tool } from './helpers/tools.js'

const dockerfile = await readFile(join(repoRoot, 'Dockerfile'), 'utf8')
const all = stages(parseDockerfile(dockerfile))
const runtime = all.at(-1)!
const named = (name: string): Stage => {
  const stage = all.find((s) => s.name === name)
  if (stage === undefined) throw new Error(`no stage named ${name}`)
  return stage
}
const runs = (stage: Stage): string[] => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args)
const last = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).at(-1)

t.test('hadolint parses the Dockerfile and reports nothing', { skip: missingTools(t, ['hadolint']) }, async (t) => {
  const result = await run(tool('hadolint'), ['--format', 'json', 'Dockerfile'])
  t.equal(result.code, 0, result.stdout + result.stderr)
  t.same(JSON.parse(result.stdout), [], 'no rule violated')

  // Negative control: hadolint does fail a bad Dockerfile.
  const dir = await mkdtemp(join(tmpdir(), 'cic-gateway-hadolint-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'Dockerfile'), 'FROM node:latest\nRUN cd /app && npm install\nCMD npm start\n')
  const bad = await run(tool('hadolint'), ['--format', 'json', join(dir, 'Dockerfile')])
  t.not(bad.code, 0)
  const codes = (JSON.parse(bad.stdout) as Array<{ code: string }>).map((r) => r.code)
  t.ok(codes.includes('DL3007'), 'FROM :latest is flagged')
})

t.test('multi-stage: a build stage with dev dependencies, a runtime stage with production ones', async (t) => {
  t.ok(all.length >= 2, `${all.length} stages`)
  const build = named('build')
  t.ok(runs(build).some((r) => /^npm ci\b/.test(r) && !r.includes('--omit=dev')), 'build stage installs dev dependencies')
  t.ok(runs(build).some((r) => /\bnpm run build\b/.test(r)), 'build stage compiles TypeScript')
  const prodDeps = named('prod-deps')
  const install = runs(prodDeps).find((r) => /^npm ci\b/.test(r))
  t.match(install, /npm ci --omit=dev\b/, 'production dependencies only')
  t.match(install, /npm cache clean --force/, 'no npm cache left behind')

  const copies = runtime.instructions.filter((i) => i.keyword === 'COPY')
  t.ok(copies.length > 0)
  for (const copy of copies) t.ok(copy.flags.from, `runtime COPY takes from a stage, not the context: ${copy.args}`)
  t.ok(copies.some((c) => c.flags.from === 'build' && /^\/app\/dist\s/.test(c.args)), 'dist/ from the build stage')
  t.ok(copies.some((c) => c.flags.from === 'prod-deps' && /^\/app\/node_modules\s/.test(c.args)), 'node_modules from prod-deps')
  t.notOk(copies.some((c) => c.flags.from === 'build' && /node_modules/.test(c.args)), 'never the dev node_modules')
  t.notOk(copies.some((c) => /\b(src|test)\b/.test(c.args)), 'no sources or tests in the image')
  t.notOk(runs(runtime).some((r) => /\bnpm (ci|install)\b/.test(r)), 'nothing installed in the runtime stage itself')
})

t.test('base image: Node.js 24 LTS slim (or distroless), pinned by version, the same in every stage', async (t) => {
  for (const stage of all) {
    t.match(stage.image, /^(node:24\.\d+\.\d+-(bookworm|trixie)-slim|gcr\.io\/distroless\/nodejs24-debian1[23](:nonroot)?)(@sha256:[a-f0-9]{64})?$/, `${stage.name ?? 'stage'}: ${stage.image}`)
    t.notMatch(stage.image, /:latest|:24(-|$)|:lts/, 'not a moving tag')
  }
  t.equal(new Set(all.map((s) => s.image)).size, 1, 'one base for every stage')
})

t.test('runtime stage: non-root, production, exposed port, health check, node as PID 1', async (t) => {
  const user = last(runtime, 'USER')!.args
  t.match(user, /^\d+(:\d+)?$/, 'numeric user, so Kubernetes runAsNonRoot can verify it')
  t.not(Number(user.split(':')[0]), 0, 'not root')

  const env = Object.assign({}, ...runtime.instructions.filter((i) => i.keyword === 'ENV').map((i) => parseEnv(i.args))) as Record<string, string>
  t.equal(env.NODE_ENV, 'production')
  t.match(env.SPOOL_DIR, /^\/tmp\//, 'the spool is under /tmp, the only writable path')
  t.equal(env.PORT, '8080')
  t.match(last(runtime, 'EXPOSE')!.args, /^8080(\/tcp)?$/)

  const cmd = last(runtime, 'CMD')!
  t.same(cmd.exec, ['node', 'dist/main.js'], 'exec form: node itself is PID 1 and receives SIGTERM')
  t.equal(last(runtime, 'ENTRYPOINT'), undefined, 'no entrypoint wrapper')
  t.notMatch(dockerfile.replace(/^\s*#.*$/gm, ''), /npm (start|run start)/, 'never npm start')
  const stop = last(runtime, 'STOPSIGNAL')
  if (stop !== undefined) t.equal(stop.args, 'SIGTERM')

  const health = last(runtime, 'HEALTHCHECK')!
  t.ok(health.exec, 'HEALTHCHECK in exec form (no shell needed)')
  t.equal(health.exec![0], 'node', 'checked with node itself: no curl in a slim image')
  t.match(health.exec!.join(' '), /\/livez/, 'against /livez (the process, not CIC)')
  t.match(health.flags, { interval: /s$/, timeout: /s$/ })
  t.ok(runs(runtime).some((r) => /rm -rf .*\/usr\/local\/lib\/node_modules\/npm/.test(r)), 'npm itself is removed from the runtime image')
})

t.test('.dockerignore shapes the context to what the build needs', async (t) => {
  const files = await contextFiles(repoRoot)
  const allowed = /^(package\.json|package-lock\.json|tsconfig\.json|tsconfig\.build\.json|src\/.+)$/
  for (const file of files) t.match(file, allowed, `in the context: ${file}`)
  for (const required of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src/main.ts', 'src/simulator/main.ts']) {
    t.ok(files.includes(required), `context has ${required}`)
  }
  for (const file of files) t.notMatch(file, /(^|\/)(node_modules|dist|\.git|test|bench|coverage|\.tap)\//, 'nothing generated, no tests')

  // Every path the Dockerfile copies from the context is in it.
  for (const stage of all) {
    for (const copy of stage.instructions.filter((i) => i.keyword === 'COPY' && i.flags.from === undefined)) {
      const sources = copy.args.split(/\s+/).slice(0, -1)
      for (const source of sources) t.ok(files.some((f) => f === source || f.startsWith(`${source}/`)), `COPY ${source}: in the context`)
    }
  }
})

t.test('the .dockerignore reader follows Docker\'s pattern rules', async (t) => {
  const patterns = parseDockerignore('*\n!src/\nsrc/**/*.test.ts\n**/.DS_Store\n!keep/**\n')
  const cases: Array<[string, boolean]> = [
    ['node_modules/fastify/package.json', true],
    ['README.md', true],
    ['src/main.ts', false],
    ['src/http/health.ts', false],
    ['src/http/health.test.ts', true],
    ['src/.DS_Store', true],
    ['keep/a/b.txt', false],
    ['.git/config', true]
  ]
  for (const [path, expected] of cases) t.equal(excluded(patterns, path), expected, `${path} ${expected ? 'excluded' : 'kept'}`)
})
