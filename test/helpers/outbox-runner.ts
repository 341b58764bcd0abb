// A process holding an Outbox, for the crash test (test/outbox-crash.test.ts), which kills
// it with SIGKILL and starts it again on the same directory. Run with `node --import tsx`;
// it loads the built modules (dist/, `npm run build` runs before the tests), so a restart
// costs no TypeScript compilation.
//
// Environment: OUTBOX_DIR, OUTBOX_RUNNER_CONFIG (JSON: the parts of a loaded Config that
// DeliveryService takes, see RunnerConfig; the test loads it with loadConfig, so the child
// does not pay for the schema compilation), OUTBOX_CONCURRENCY (2).
// It loads its modules, then waits for a line `go` on stdin before it opens the outbox (so
// the test can start the next processes while the current one still runs, and let one open
// the directory only once the current one is dead). Then it takes documents on a tiny local
// HTTP server (POST /?name=<filename>, the raw body) and prints one line per event on stdout
// (synchronous for a pipe, so a line printed before a SIGKILL is still read by the test):
//   ready                                      modules loaded, waiting for `go`
//   listening <port>
//   accepted <id> <sha256 base64> <filename>   once the document is fsynced in the outbox
//   uploading <id> <filename>                  the record says delivering; the upload starts
//   delivered <id> <filename>                  the delivered record is on disk
//   corrupt <n>                                open() set n files aside
// SIGTERM closes the outbox (2 s) and exits 0.
import { createServer } from 'node:http'
import { createInterface } from 'node:readline'

type OutboxModule = typeof import('../../src/delivery/outbox/index.js')
type ServiceModule = typeof import('../../src/delivery/service.js')
type LoggerModule = typeof import('../../src/observability/logger.js')
type RunnerConfig = import('./outbox.js').RunnerConfig

const dir = process.env.OUTBOX_DIR
const configJson = process.env.OUTBOX_RUNNER_CONFIG
if (dir === undefined || configJson === undefined) throw new Error('OUTBOX_DIR and OUTBOX_RUNNER_CONFIG are required')
await run(dir, JSON.parse(configJson) as RunnerConfig)

async function run (dir: string, config: RunnerConfig): Promise<void> {
  const dist = (path: string): string => new URL(`../../dist/${path}`, import.meta.url).href
  const [{ Outbox }, { deliveryServiceFor }, { createLogger }] = await Promise.all([
    import(dist('delivery/outbox/index.js')) as Promise<OutboxModule>,
    import(dist('delivery/service.js')) as Promise<ServiceModule>,
    import(dist('observability/logger.js')) as Promise<LoggerModule>
  ])
  const out = (line: string): void => { process.stdout.write(`${line}\n`) }

  out('ready')
  await new Promise<void>(resolve => {
    const lines = createInterface({ input: process.stdin })
    lines.on('line', line => { if (line.trim() === 'go') { lines.close(); resolve() } })
  })

  const logger = createLogger('info', process.stderr)
  const delivery = deliveryServiceFor(config, logger)

  const outbox = await Outbox.open({
    dir,
    maxBytes: 256 * 1024 * 1024,
    maxAgeMs: 10 * 60_000,
    concurrency: Number(process.env.OUTBOX_CONCURRENCY ?? '2'),
    deliver: async doc => await delivery.deliver(doc),
    findDelivered: async (mailbox, filename, requestId) => await delivery.findDelivered(mailbox, filename, requestId),
    logger,
    retry: { baseMs: 50, maxMs: 500 },
    reconcileDelayMs: 200,
    onChange: status => {
      if (status.state === 'delivering') out(`uploading ${status.id} ${status.filename}`)
      if (status.state === 'delivered') out(`delivered ${status.id} ${status.filename}`)
    }
  })
  if (outbox.recovery.corrupt.length > 0) out(`corrupt ${outbox.recovery.corrupt.length}`)
  outbox.start()

  const server = createServer((req, res) => {
    const name = new URL(req.url ?? '/', 'http://runner').searchParams.get('name') ?? 'unnamed.edi'
    const length = req.headers['content-length']
    outbox.accept({ caller: '', mailbox: 'default', filename: name, source: req, expectedLength: length === undefined ? undefined : Number(length), maxBytes: 64 * 1024 * 1024 })
      .then(status => {
        out(`accepted ${status.id} ${status.sha256} ${name}`)
        res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify(status))
      }, (err: unknown) => {
        res.writeHead(500).end(err instanceof Error ? err.name : 'error')
      })
  })
  server.listen(0, '127.0.0.1', () => {
    const address = server.address()
    out(`listening ${typeof address === 'object' && address !== null ? address.port : 0}`)
  })

  process.once('SIGTERM', () => {
    server.close()
    void outbox.close(2000).then(async () => { await delivery.close() }).finally(() => process.exit(0))
  })
}
