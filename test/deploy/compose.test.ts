// docker-compose.yml: validated against the Compose specification's JSON schema
// (check-jsonschema carries it), then asserted. The commented real-tenant block is
// uncommented and validated too, so the documentation stays a working file.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { missingTools, repoRoot, run, tool } from './helpers/tools.js'

const text = await readFile(join(repoRoot, 'docker-compose.yml'), 'utf8')
const compose = parse(text, { merge: true }) as any

/** The file with its "real CIC tenant" block uncommented in place of the demo services. */
function tenantVariant (source: string): string {
  const lines = source.split('\n')
  const start = lines.findIndex((l) => /^#\s{2}gateway:\s*$/.test(l))
  if (start === -1) throw new Error('no commented gateway service in docker-compose.yml')
  const head = lines.slice(0, lines.findIndex((l) => /^services:/.test(l)))
  const block = lines.slice(start).filter((l) => l.startsWith('#')).map((l) => l.slice(1))
  const secretsAt = block.findIndex((l) => /^secrets:/.test(l))
  return [...head, 'services:', ...block.slice(0, secretsAt), ...block.slice(secretsAt)].join('\n') + '\n'
}

async function validate (file: string): Promise<{ code: number, output: string }> {
  const result = await run(tool('check-jsonschema'), ['--builtin-schema', 'vendor.compose-spec', file])
  return { code: result.code, output: result.stdout + result.stderr }
}

const skip = missingTools(t, ['check-jsonschema'])

t.test('docker-compose.yml is valid against the Compose specification', { skip }, async (t) => {
  const result = await validate(join(repoRoot, 'docker-compose.yml'))
  t.equal(result.code, 0, result.output)

  // Negative controls: the schema does catch a misspelt key, in a service and in the
  // gateways' shared block (x-gateway, merged into both).
  const dir = await mkdtemp(join(tmpdir(), 'cic-gateway-compose-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await writeFile(join(dir, 'docker-compose.yml'), text.replace('    expose:', '    exposes:'))
  const bad = await validate(join(dir, 'docker-compose.yml'))
  t.not(bad.code, 0)
  t.match(bad.output, /exposes/)
  const merged = text.replace('  depends_on:', '  depend_on:')
  t.not(merged, text)
  await writeFile(join(dir, 'docker-compose.yml'), merged)
  const badMerged = await validate(join(dir, 'docker-compose.yml'))
  t.not(badMerged.code, 0, 'a key misspelt in x-gateway is caught where it is merged')
})

t.test('the documented real-tenant variant is a valid Compose file too', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cic-gateway-compose-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const variant = tenantVariant(text)
  await writeFile(join(dir, 'docker-compose.yml'), variant)
  const result = await validate(join(dir, 'docker-compose.yml'))
  t.equal(result.code, 0, result.output + variant)

  const tenant = parse(variant, { merge: true }) as any
  const gateway = tenant.services.gateway
  t.same(Object.keys(tenant.services), ['gateway'], 'no simulator')
  t.equal(gateway.environment.NODE_ENV, 'production')
  t.match(gateway.environment.CIC_BASE_URL, /^https:\/\//)
  t.equal(gateway.environment.CIC_PASSWORD_FILE, '/run/secrets/cic_password', 'the password comes from a secret file')
  t.equal(gateway.environment.GATEWAY_API_KEYS_FILE, '/run/secrets/gateway_api_keys')
  t.notOk(gateway.environment.CIC_PASSWORD, 'no password inline')
  t.same(gateway.secrets, ['cic_password', 'gateway_api_keys'])
  t.same(tenant.secrets, { cic_password: { file: './secrets/cic_password' }, gateway_api_keys: { file: './secrets/gateway_api_keys' } })
  t.ok(parseDuration(gateway.stop_grace_period) >= 300 + 5, 'stop grace covers the default shutdown (5 s + 300 s)')
})

t.test('simulator and gateway from the same image, healthy in order', async (t) => {
  const { simulator, gateway } = compose.services
  t.same(Object.keys(compose.services).sort(), ['gateway', 'gateway-2', 'redis', 'simulator'])
  t.equal(simulator.image, gateway.image, 'one image')
  t.same(simulator.build, gateway.build)
  t.equal(gateway.build.context, '.')
  t.same(simulator.command, ['node', 'dist/simulator/main.js'])
  t.same(gateway.command, ['node', 'dist/main.js'])

  for (const [name, service] of Object.entries({ simulator, gateway }) as Array<[string, any]>) {
    t.equal(service.healthcheck.test[0], 'CMD', `${name}: health check in exec form`)
    t.equal(service.healthcheck.test[1], 'node', `${name}: checked with node (no curl in the image)`)
    t.equal(service.read_only, true, `${name}: read-only root filesystem`)
    t.ok(service.tmpfs.some((m: string) => m.startsWith('/tmp')), `${name}: writable /tmp`)
  }
  t.match(simulator.healthcheck.test.join(' '), /_sim\/health/)
  t.match(gateway.healthcheck.test.join(' '), /\/livez/)

  t.same(gateway.depends_on, { simulator: { condition: 'service_healthy' }, redis: { condition: 'service_healthy' } })
  t.same(gateway.ports, ['8080:8080'], 'the gateway on localhost:8080')
  t.equal(gateway.environment.CIC_BASE_URL, 'http://simulator:8081')
  t.equal(simulator.environment.SIMULATOR_PORT, '8081')
  t.equal(gateway.environment.CIC_USERNAME, simulator.environment.SIMULATOR_USERNAME)
  t.equal(gateway.environment.CIC_PASSWORD, simulator.environment.SIMULATOR_PASSWORD)
  t.equal(gateway.environment.NODE_ENV, 'development', 'plain http to the simulator is not allowed in production mode')
  t.ok(gateway.environment.GATEWAY_API_KEYS, 'the demo has a caller key')
  const shutdown = Number(gateway.environment.SHUTDOWN_DELAY_SECONDS) + Number(gateway.environment.SHUTDOWN_TIMEOUT_SECONDS)
  t.ok(parseDuration(gateway.stop_grace_period) > shutdown, 'docker waits for the drain before SIGKILL')
})

function parseDuration (value: string): number {
  const m = /^(\d+)(s|m)$/.exec(value)
  if (m === null) throw new Error(`unsupported duration ${value}`)
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1)
}

t.test('Redis keeps the shared state: append-only file on a volume, no eviction, compose network only', async (t) => {
  const { redis } = compose.services
  t.match(redis.image, /^(valkey\/valkey|redis):\d/, 'Valkey or Redis, a pinned major version')
  const args: string[] = redis.command
  const option = (name: string): string | undefined => {
    const i = args.indexOf(`--${name}`)
    return i === -1 ? undefined : args[i + 1]
  }
  t.match(args[0], /^(valkey|redis)-server$/)
  t.equal(option('appendonly'), 'yes', 'every write goes to the append-only file')
  t.equal(option('appendfsync'), 'everysec', 'fsync once a second (what the README states)')
  t.equal(option('maxmemory-policy'), 'noeviction', 'a full Redis refuses writes instead of evicting records')
  t.match(option('maxmemory'), /^\d+(mb|gb)$/, 'memory bounded')
  const [volume] = redis.volumes as string[]
  const [name, target] = volume!.split(':')
  t.equal(target, '/data', 'the data folder is a volume')
  t.ok(name! in (compose.volumes ?? {}), 'a named volume: it outlives `docker compose down`')
  t.equal(redis.ports, undefined, 'not published on the host')
  t.same(redis.expose, ['6379'])
  t.equal(redis.read_only, true)
  t.match(redis.healthcheck.test.join(' '), /ping/)
})

t.test('both demo gateways share one Redis and differ only in their host port and outbox volume', async (t) => {
  const { gateway, 'gateway-2': second, redis } = compose.services
  const url = new URL(gateway.environment.REDIS_URL)
  t.equal(url.protocol, 'redis:')
  t.equal(url.hostname, 'redis', 'the compose service')
  t.equal(url.port, redis.expose[0])
  t.equal(gateway.environment.REDIS_KEY_PREFIX, 'cic-gateway:')
  t.notOk(gateway.environment.REDIS_PASSWORD, 'no Redis password inline')
  const { ports: p1, volumes: _v1, ...rest1 } = gateway
  const { ports: p2, volumes: _v2, ...rest2 } = second
  t.same(rest2, rest1, 'same image, command, environment (REDIS_URL), health check and limits')
  t.same(p1, ['8080:8080'])
  t.same(p2, ['8082:8080'])
})

t.test('store and forward: each gateway keeps its outbox on a named volume of its own, writable by the image\'s user', async (t) => {
  const { gateway, 'gateway-2': second } = compose.services
  const mounts = [gateway, second].map((service: any) => {
    const dir = service.environment.OUTBOX_DIR as string
    t.match(dir, /^\/var\/lib\/cic-gateway\/outbox$/, 'OUTBOX_DIR set: Prefer: respond-async is honoured')
    const mount = (service.volumes as string[]).map((v) => v.split(':')).find(([, target]) => target === dir)
    t.ok(mount, 'OUTBOX_DIR is a mounted volume (the root filesystem is read-only)')
    t.ok(mount![0]! in compose.volumes, `${mount![0]!}: a named volume, it outlives docker compose down`)
    t.equal(service.read_only, true, 'the root filesystem stays read-only')
    return mount![0]
  })
  t.not(mounts[0], mounts[1], 'never one outbox for two gateways (each would deliver the other\'s queue)')
  // A new named volume takes the ownership of the image's directory it is mounted on.
  const dockerfile = await readFile(join(repoRoot, 'Dockerfile'), 'utf8')
  t.match(dockerfile, /mkdir -p \/var\/lib\/cic-gateway\/outbox && chown 1000:1000 \/var\/lib\/cic-gateway\/outbox/, 'the image has the mount point, owned by uid 1000')

  const tenant = parse(tenantVariant(text), { merge: true }) as any
  t.equal(tenant.services.gateway.environment.OUTBOX_DIR, '/var/lib/cic-gateway/outbox', 'the real-tenant block shows the outbox too')
  t.same(tenant.services.gateway.volumes, ['outbox:/var/lib/cic-gateway/outbox'])
  t.ok('outbox' in tenant.volumes)
})
