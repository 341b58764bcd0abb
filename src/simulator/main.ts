// Standalone CIC simulator (demo mode, docker compose, soak runs): `node dist/simulator/main.js`.
import { startSimulator } from './index.js'
import { optionsFromEnv } from './options.js'

function log (fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(fields)}\n`)
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
