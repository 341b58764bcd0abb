// Process entry: configuration, demo simulator when no tenant is set, listen, graceful shutdown.
import closeWithGrace from 'close-with-grace'
import { setTimeout as sleep } from 'node:timers/promises'
import { ConfigError, loadConfig, type Config } from './config/index.js'
import { buildApp } from './app.js'
import { createLogger } from './observability/logger.js'

async function startDemoSimulator (config: Config): Promise<{ config: Config, close: () => Promise<void> }> {
  // Imported lazily: production never loads the simulator.
  const { startSimulator, DEMO_USERNAME, DEMO_PASSWORD } = await import('./simulator/index.js')
  const sim = await startSimulator({ host: '127.0.0.1', port: 0, keepBodies: false })
  const mailbox = { name: 'default', baseUrl: sim.url, username: DEMO_USERNAME, password: DEMO_PASSWORD, uploadFolder: 'upload' }
  return { config: { ...config, mailboxes: [mailbox], defaultMailbox: 'default' }, close: async () => { await sim.close() } }
}

async function main (): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    // One clear message naming every bad variable; no value is printed.
    process.stderr.write(`cic-gateway: ${err.message}\n`)
    process.exit(78) // EX_CONFIG
  }
  const logger = createLogger(config.logLevel)

  let closeSimulator: (() => Promise<void>) | undefined
  if (config.demo) {
    const demo = await startDemoSimulator(config)
    config = demo.config
    closeSimulator = demo.close
    logger.warn({ event: 'demo', cicBaseUrl: config.mailboxes[0]?.baseUrl }, 'DEMO MODE: no CIC_BASE_URL configured, documents go to the bundled CIC simulator, not to Cleo Integration Cloud')
  }

  const app = await buildApp(config, logger)
  const address = await app.listen({ host: config.host, port: config.port })
  const metricsAddress = await app.metricsServer?.listen({ host: config.host, port: config.metricsPort })
  logger.info({ event: 'start', address, metricsAddress, mailboxes: app.delivery.mailboxNames(), maxBodyBytes: config.maxBodyBytes, nodeEnv: config.nodeEnv }, 'cic-gateway listening')

  // Kubernetes sends SIGTERM and waits terminationGracePeriodSeconds; a second signal forces exit.
  closeWithGrace({ delay: config.shutdownDelayMs + config.shutdownTimeoutMs, logger }, async ({ signal, err }) => {
    if (err !== undefined) logger.error({ err }, 'fatal error, shutting down')
    logger.info({ event: 'shutdown', signal, delayMs: config.shutdownDelayMs }, 'shutdown started: readiness now fails')
    app.lifecycle.beginShutdown()
    // Still serving while the endpoints drop this pod; then the app closes itself (plugins/lifecycle.ts).
    await sleep(config.shutdownDelayMs)
    await app.close()
    // The simulator outlives the gateway (closed after every plugin's onClose, the outbox's
    // included): uploads in flight, synchronous or from the outbox, finish against it.
    await closeSimulator?.()
    logger.info({ event: 'shutdown', phase: 'done' }, 'shutdown complete')
  })
}

main().catch((err: unknown) => {
  process.stderr.write(`cic-gateway: failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
