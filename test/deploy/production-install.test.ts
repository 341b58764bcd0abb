// The image, without Docker: replays the Dockerfile's stages in a clean temporary directory
// (the build context exactly as .dockerignore shapes it, `npm ci` + `npm run build`, then a
// runtime directory with `npm ci --omit=dev` + dist/ only), starts the CIC simulator and the
// gateway with the image's exact CMD and environment (NODE_ENV=production), and checks that
// /readyz turns 200, a document is delivered, the health checks of the Dockerfile and of
// docker-compose.yml pass, the documented curl works, and SIGTERM exits 0.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, posix } from 'node:path'
import { once } from 'node:events'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { copyContext } from './helpers/context.js'
import { parseDockerfile, parseEnv, stages, type Instruction } from './helpers/dockerfile.js'
import { repoRoot, run } from './helpers/tools.js'

const API_KEY = 'deploy-test-key'
// Two npm installs and a TypeScript build: more than the default per-file timeout on a busy machine.
t.setTimeout(300_000)

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  await once(server, 'close')
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

interface Started {
  child: ChildProcess
  output: () => string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

function start (command: string[], cwd: string, env: Record<string, string>): Started {
  const [file, ...args] = command
  // `node` is this Node.js (the image's node is 24; CI's is whatever runs the tests).
  const child = spawn(file === 'node' ? process.execPath : file!, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
  })
  return { child, output: () => output, exited }
}

async function waitFor (what: string, deadlineMs: number, check: () => Promise<boolean>, process?: Started): Promise<void> {
  const deadline = Date.now() + deadlineMs
  let lastError: unknown
  while (Date.now() < deadline) {
    if (process !== undefined && process.child.exitCode !== null) throw new Error(`${what}: process exited ${process.child.exitCode}\n${process.output()}`)
    try {
      if (await check()) return
    } catch (error) {
      lastError = error
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`${what}: not within ${deadlineMs} ms (${String(lastError)})\n${process?.output() ?? ''}`)
}

async function status (url: string): Promise<number> {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000) })
  await response.arrayBuffer()
  return response.status
}

/** The first shell block of docs/deployment.md that posts a document with curl, as one line. */
async function documentedCurl (): Promise<string> {
  const doc = await readFile(join(repoRoot, 'docs', 'deployment.md'), 'utf8')
  for (const block of doc.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)) {
    const joined = block[1]!.replace(/\\\n\s*/g, ' ')
    const line = joined.split('\n').find((l) => /^curl .*\/documents\?filename=/.test(l.trim()))
    if (line !== undefined) return line.trim()
  }
  throw new Error('docs/deployment.md shows no curl that posts to /documents')
}

interface Build {
  root: string
  runtimeDir: string
  imageEnv: Record<string, string>
  cmd: string[]
  healthcheck: string[]
  skipped: string[]
  stageDirs: Map<string, string>
}

/** Replays the Dockerfile outside Docker. Unknown instructions fail: keep the two in step. */
async function replayDockerfile (root: string): Promise<Build> {
  const contextDir = join(root, 'context')
  await copyContext(repoRoot, contextDir)
  const all = stages(parseDockerfile(await readFile(join(repoRoot, 'Dockerfile'), 'utf8')))
  const stageDirs = new Map<string, string>()
  const stageWorkdirs = new Map<string, string>()
  const skipped: string[] = []
  let imageEnv: Record<string, string> = {}
  let cmd: string[] = []
  let healthcheck: string[] = []
  let runtimeDir = ''

  for (const [index, stage] of all.entries()) {
    const dir = join(root, 'stages', stage.name ?? String(index))
    await mkdir(dir, { recursive: true })
    stageDirs.set(stage.name ?? String(index), dir)
    let workdir = '/'
    const env: Record<string, string> = {}
    // Paths in the image map into the stage folder through WORKDIR.
    const inStage = (stageDir: string, stageWorkdir: string, path: string): string => {
      const absolute = posix.resolve(stageWorkdir, path)
      if (absolute !== stageWorkdir && !absolute.startsWith(`${stageWorkdir}/`)) throw new Error(`path outside WORKDIR ${stageWorkdir}: ${path}`)
      return join(stageDir, posix.relative(stageWorkdir, absolute))
    }
    for (const instruction of stage.instructions) {
      switch (instruction.keyword) {
        case 'WORKDIR':
          workdir = posix.resolve(workdir, instruction.args)
          break
        case 'ENV':
          Object.assign(env, parseEnv(instruction.args))
          break
        case 'COPY':
          await replayCopy(instruction, (path) => inStage(dir, workdir, path), (from, path) => {
            const fromDir = stageDirs.get(from)
            if (fromDir === undefined) throw new Error(`COPY --from=${from}: unknown stage`)
            return inStage(fromDir, stageWorkdirs.get(from) ?? '/', path)
          }, contextDir)
          break
        case 'RUN':
          for (const command of instruction.args.split(/\s*&&\s*/)) {
            if (/^npm (ci|run)\b/.test(command)) {
              const args = command.split(/\s+/).slice(1)
              if (args[0] === 'ci') args.push('--prefer-offline')
              const result = await run('npm', args, { cwd: dir, env: { ...process.env, ...env } })
              if (result.code !== 0) throw new Error(`${command} failed in stage ${stage.name ?? index}:\n${result.stdout}${result.stderr}`)
            } else if (/^npm cache clean\b/.test(command) || /^rm -rf(\s+\/(usr\/local|root)\/\S+)+$/.test(command)) {
              // Changes the image's own npm and caches, not the app: nothing to replay.
              skipped.push(command)
            } else if (/^(mkdir -p|chown \d+:\d+)(\s+\/var\/lib\/cic-gateway\/\S+)+$/.test(command)) {
              // A mount point for a volume (the outbox), outside the app: nothing to replay.
              skipped.push(command)
            } else {
              throw new Error(`unsupported RUN command in the Dockerfile: ${command} (update production-install.test.ts)`)
            }
          }
          break
        case 'CMD':
          cmd = instruction.exec ?? []
          break
        case 'HEALTHCHECK':
          healthcheck = instruction.exec ?? []
          break
        case 'USER': case 'EXPOSE': case 'STOPSIGNAL': case 'LABEL': case 'ARG':
          break
        default:
          throw new Error(`unsupported instruction ${instruction.keyword} (update production-install.test.ts)`)
      }
    }
    stageWorkdirs.set(stage.name ?? String(index), workdir)
    imageEnv = env
    runtimeDir = dir
  }
  return { root, runtimeDir, imageEnv, cmd, healthcheck, skipped, stageDirs }
}
async function replayCopy (instruction: Instruction, target: (path: string) => string, fromStage: (stage: string, path: string) => string, contextDir: string): Promise<void> {
  const parts = instruction.args.split(/\s+/)
  const destination = parts.pop()!
  const many = parts.length > 1 || destination.endsWith('/')
  for (const source of parts) {
    const from = instruction.flags.from !== undefined ? fromStage(instruction.flags.from, source) : join(contextDir, source)
    const to = target(many ? posix.join(destination, posix.basename(source)) : destination)
    await mkdir(dirname(to), { recursive: true })
    await cp(from, to, { recursive: true })
  }
}

t.test('the production image, replayed without Docker, relays a document and shuts down cleanly', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'cic-gateway-image-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  const build = await replayDockerfile(root)

  t.test('the runtime stage holds production dependencies and dist/ only', async (t) => {
    t.same((await readdir(build.runtimeDir)).sort(), ['dist', 'node_modules', 'package-lock.json', 'package.json'])
    const modules = await readdir(join(build.runtimeDir, 'node_modules'))
    t.ok(modules.includes('fastify'), 'production dependencies installed')
    for (const dev of ['typescript', 'tap', '@types']) t.notOk(modules.includes(dev), `no ${dev}`)
    const dist = await readdir(join(build.runtimeDir, 'dist'), { recursive: true })
    t.notOk(dist.some((f) => /\.test\.js$|\.ts$/.test(f) && !f.endsWith('.d.ts')), 'compiled code only')
    t.same(build.imageEnv.NODE_ENV, 'production')
    t.same(build.cmd, ['node', 'dist/main.js'])
    t.ok(build.skipped.every((c) => /npm cache clean|rm -rf|mkdir -p \/var\/lib\/cic-gateway|chown \d+:\d+ \/var\/lib\/cic-gateway/.test(c)), `only image housekeeping and volume mount points skipped: ${build.skipped.join('; ')}`)
  })

  const compose = parseYaml(await readFile(join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as any
  const dist = await readdir(join(build.runtimeDir, 'dist'), { recursive: true })
  const compiled = (await Promise.all(dist.filter((f) => f.endsWith('.js')).map((f) => readFile(join(build.runtimeDir, 'dist', f), 'utf8')))).join('\n')
  const authImplemented = compiled.includes('GATEWAY_API_KEYS')
  const metricsPortImplemented = compiled.includes('METRICS_PORT')

  // The simulator runs from the same runtime folder, as in docker-compose.yml.
  const simPort = await freePort()
  const cleanEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...build.imageEnv }
  const simulator = start(compose.services.simulator.command, build.runtimeDir, {
    ...cleanEnv,
    SIMULATOR_HOST: '127.0.0.1',
    SIMULATOR_PORT: String(simPort)
  })
  t.teardown(() => { if (simulator.child.exitCode === null) simulator.child.kill('SIGKILL') })
  const simUrl = `http://127.0.0.1:${simPort}`
  await waitFor('simulator health', 20_000, async () => await status(`${simUrl}/_sim/health`) === 200, simulator)

  const secrets = join(root, 'secrets')
  await mkdir(secrets)
  await writeFile(join(secrets, 'cic-password'), `${compose.services.simulator.environment.SIMULATOR_PASSWORD}\n`)
  await writeFile(join(secrets, 'gateway-api-keys'), `${API_KEY},demo-key\n`)
  const port = await freePort()
  const metricsPort = await freePort()
  const gatewayUrl = `http://127.0.0.1:${port}`
  const gateway = start(build.cmd, build.runtimeDir, {
    ...cleanEnv, // NODE_ENV=production from the image
    HOST: '127.0.0.1',
    PORT: String(port),
    METRICS_PORT: String(metricsPort),
    SPOOL_DIR: join(root, 'spool'),
    CIC_BASE_URL: simUrl,
    CIC_USERNAME: compose.services.simulator.environment.SIMULATOR_USERNAME,
    CIC_PASSWORD_FILE: join(secrets, 'cic-password'),
    GATEWAY_API_KEYS_FILE: join(secrets, 'gateway-api-keys'),
    SHUTDOWN_DELAY_SECONDS: '1',
    SHUTDOWN_TIMEOUT_SECONDS: '10',
    LOG_LEVEL: 'info'
  })
  t.teardown(() => { if (gateway.child.exitCode === null) gateway.child.kill('SIGKILL') })

  await t.test('/readyz turns 200', async (t) => {
    await waitFor('gateway /readyz', 30_000, async () => await status(`${gatewayUrl}/readyz`) === 200, gateway)
    t.equal(await status(`${gatewayUrl}/livez`), 200)
  })

  await t.test('the Dockerfile and compose health checks pass against the running processes', async (t) => {
    const env = { ...cleanEnv, PORT: String(port) }
    const image = await run(process.execPath, build.healthcheck.slice(1), { cwd: build.runtimeDir, env })
    t.equal(image.code, 0, `Dockerfile HEALTHCHECK: ${image.stderr}`)
    const composeGateway = compose.services.gateway.healthcheck.test.slice(2).map((a: string) => a.replace(':8080', `:${port}`))
    t.equal((await run(process.execPath, composeGateway, { env })).code, 0, 'compose gateway health check')
    const composeSim = compose.services.simulator.healthcheck.test.slice(2).map((a: string) => a.replace(':8081', `:${simPort}`))
    t.equal((await run(process.execPath, composeSim, { env })).code, 0, 'compose simulator health check')
  })

  await t.test('one document is delivered into the CIC mailbox', async (t) => {
    const body = randomBytes(64 * 1024)
    const filename = `deploy-smoke-${Date.now()}.edi`
    const response = await fetch(`${gatewayUrl}/documents?filename=${filename}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${API_KEY}` },
      body
    })
    const text = await response.text()
    t.equal(response.status, 201, text)
    t.doesNotThrow(() => JSON.parse(text), 'CIC\'s JSON comes back')
    const files = (await (await fetch(`${simUrl}/_sim/files`)).json()) as { files: Array<{ name: string, size: number, sha256: string }> }
    const stored = files.files.find((f) => f.name === filename)
    t.ok(stored, 'the simulator holds the document')
    t.equal(stored?.size, body.length)
    t.equal(stored?.sha256, createHash('sha256').update(body).digest('hex'), 'byte for byte')
  })

  await t.test('the curl in docs/deployment.md works as written', async (t) => {
    const dir = join(root, 'curl')
    await mkdir(dir)
    await writeFile(join(dir, 'invoice.edi'), 'ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *\n')
    const curl = (await documentedCurl()).replace(/localhost:8080/g, `127.0.0.1:${port}`)
    const result = await run('bash', ['-c', curl], { cwd: dir })
    t.equal(result.code, 0, `${curl}\n${result.stdout}${result.stderr}`)
    t.doesNotThrow(() => JSON.parse(result.stdout), 'CIC\'s JSON printed')
  })

  await t.test('callers without a key are refused', { todo: authImplemented ? false : 'caller auth (issue 4) has not landed' }, async (t) => {
    const response = await fetch(`${gatewayUrl}/documents?filename=nokey.edi`, { method: 'POST', body: 'x' })
    await response.arrayBuffer()
    t.equal(response.status, 401)
  })

  await t.test('metrics are served on METRICS_PORT', { todo: metricsPortImplemented ? false : 'METRICS_PORT has not landed' }, async (t) => {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch((error: unknown) => error as Error)
    t.ok(!(response instanceof Error) && response.status === 200, `GET :${metricsPort}/metrics`)
    if (!(response instanceof Error)) t.match(await response.text(), /^# (HELP|TYPE) /m)
  })

  await t.test('SIGTERM: readiness fails at once, then the process exits 0', async (t) => {
    gateway.child.kill('SIGTERM')
    await waitFor('readyz 503 after SIGTERM', 900, async () => await status(`${gatewayUrl}/readyz`) === 503)
    t.pass('/readyz is 503 within the shutdown delay')
    const exit = await Promise.race([gateway.exited, new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error(`no exit within 15 s\n${gateway.output()}`)), 15_000))])
    t.same(exit, { code: 0, signal: null }, gateway.output().slice(-2000))

    simulator.child.kill('SIGTERM')
    t.same(await simulator.exited, { code: 0, signal: null }, 'the simulator exits 0 too')
  })

  await t.test('in production a missing CIC_BASE_URL is a start-up error', async (t) => {
    const bare = start(build.cmd, build.runtimeDir, { ...cleanEnv, PORT: String(await freePort()), HOST: '127.0.0.1' })
    const exit = await Promise.race([bare.exited, new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('still running')), 10_000))])
    t.not(exit.code, 0, 'refuses to start')
    t.match(bare.output(), /CIC_BASE_URL/)
  })
})
