// Standalone CIC simulator (demo mode, docker compose, soak runs): `node dist/simulator/main.js`.
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator, type SimulatorOptions } from './index.js'

type Env = Record<string, string | undefined>

function log (fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(fields)}\n`)
}

function integer (env: Env, name: string, min: number): number | undefined {
  const raw = env[name]
  if (raw === undefined || raw === '') return undefined
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be an integer >= ${min}`)
  return value
}

function boolean (env: Env, name: string): boolean | undefined {
  const raw = env[name]?.toLowerCase()
  if (raw === undefined || raw === '') return undefined
  if (['true', '1', 'yes'].includes(raw)) return true
  if (['false', '0', 'no'].includes(raw)) return false
  throw new Error(`${name} must be true or false`)
}

function optionsFromEnv (env: Env): SimulatorOptions {
  const options: SimulatorOptions = {
    host: env.SIMULATOR_HOST || '0.0.0.0',
    port: integer(env, 'SIMULATOR_PORT', 0) ?? 8081,
    accounts: [
      {
        username: env.SIMULATOR_USERNAME || DEMO_USERNAME,
        password: env.SIMULATOR_PASSWORD || DEMO_PASSWORD,
        extraChildren: integer(env, 'SIMULATOR_EXTRA_CHILDREN', 0) ?? 0
      }
    ],
    // Standalone runs are long-lived: keep hashes, not bodies, unless asked.
    keepBodies: boolean(env, 'SIMULATOR_KEEP_BODIES') ?? false
  }
  const singleSession = boolean(env, 'SIMULATOR_SINGLE_SESSION')
  if (singleSession !== undefined) options.singleSession = singleSession
  const lifetime = integer(env, 'SIMULATOR_TOKEN_LIFETIME_SECONDS', 1)
  if (lifetime !== undefined) options.tokenLifetimeSeconds = lifetime
  const pageSize = integer(env, 'SIMULATOR_PAGE_SIZE', 1)
  if (pageSize !== undefined) options.pageSize = pageSize
  const maxFileBytes = integer(env, 'SIMULATOR_MAX_FILE_BYTES', 0)
  if (maxFileBytes !== undefined) options.maxFileBytes = maxFileBytes
  const chunked = env.SIMULATOR_CHUNKED === 'accept' || env.SIMULATOR_CHUNKED === 'reject'
    ? env.SIMULATOR_CHUNKED === 'accept'
    : boolean(env, 'SIMULATOR_CHUNKED')
  if (chunked !== undefined) options.chunkedUploads = chunked ? 'accept' : 'reject'
  const rate = env.SIMULATOR_FAULT_RATE
  if (rate) {
    const value = Number(rate)
    if (!(value >= 0 && value <= 1)) throw new Error('SIMULATOR_FAULT_RATE must be a number 0..1')
    const seed = integer(env, 'SIMULATOR_FAULT_SEED', 0)
    options.randomFaults = seed === undefined ? { rate: value } : { rate: value, seed }
  }
  const policy = env.SIMULATOR_SAME_NAME_POLICY
  if (policy) options.sameNamePolicy = policy as SimulatorOptions['sameNamePolicy']
  const extensions = env.SIMULATOR_ALLOWED_EXTENSIONS
  if (extensions) options.allowedExtensions = extensions.split(',').map((e) => e.trim()).filter(Boolean)
  return options
}

async function main (): Promise<void> {
  const simulator = await startSimulator(optionsFromEnv(process.env))
  log({ msg: 'CIC simulator listening', url: simulator.url })
  const stop = (signal: NodeJS.Signals): void => {
    simulator.close().then(
      () => {
        log({ msg: 'CIC simulator stopped', signal })
        process.exit(0)
      },
      () => process.exit(1)
    )
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main().catch((error: unknown) => {
  log({ msg: 'CIC simulator failed to start', err: error instanceof Error ? error.message : String(error) })
  process.exit(1)
})
