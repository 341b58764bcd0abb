// Process entry: configuration, demo simulator when no tenant is set, listen, graceful shutdown.
import closeWithGrace from 'close-with-grace'
import { setTimeout as sleep } from 'node:timers/promises'
import { ConfigError, loadConfig, type Config } from './config/index.js'
import { createGateway } from './gateway.js'
import { createLogger } from './logger.js'

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

  const gateway = await createGateway(config, logger)
  const address = await gateway.app.listen({ host: config.host, port: config.port })
  const metricsAddress = await gateway.metricsServer?.listen({ host: config.host, port: config.metricsPort })
  logger.info({ event: 'start', address, metricsAddress, mailboxes: gateway.delivery.mailboxNames(), maxBodyBytes: config.maxBodyBytes, nodeEnv: config.nodeEnv }, 'cic-gateway listening')

  // Kubernetes sends SIGTERM and waits terminationGracePeriodSeconds; a second signal forces exit.
  closeWithGrace({ delay: config.shutdownDelayMs + config.shutdownTimeoutMs, logger }, async ({ signal, err }) => {
    if (err !== undefined) logger.error({ err }, 'fatal error, shutting down')
    logger.info({ event: 'shutdown', signal, delayMs: config.shutdownDelayMs }, 'shutdown started: readiness now fails')
    gateway.lifecycle.shuttingDown = true
    await sleep(config.shutdownDelayMs)
    // Still listening, so late callers get a clear 503 with Connection: close, not a refused connection.
    gateway.lifecycle.draining = true
    logger.info({ event: 'shutdown', phase: 'draining', inFlight: gateway.uploads.active }, 'new requests refused; waiting for in-flight uploads')
    const drained = await gateway.drained(config.shutdownTimeoutMs)
    if (!drained) logger.warn({ event: 'shutdown', phase: 'deadline', inFlight: gateway.uploads.active }, 'shutdown deadline reached with uploads in flight')
    await gateway.close()
    await closeSimulator?.()
    logger.info({ event: 'shutdown', phase: 'done' }, 'shutdown complete')
  })
}

main().catch((err: unknown) => {
  process.stderr.write(`cic-gateway: failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
