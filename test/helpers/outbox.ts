// An Outbox driven directly (the HTTP routes come separately), delivering through a real
// DeliveryService built as the delivery plugin builds it, into a real CIC simulator.
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { loadConfig, type Config } from '../../src/config/index.js'
import { deliveryServiceFor, type DeliveryService } from '../../src/delivery/service.js'
import { Outbox, type OutboxOptions } from '../../src/delivery/outbox/index.js'
import { createLogger } from '../../src/observability/logger.js'
import { DEMO_PASSWORD, DEMO_USERNAME } from '../../src/simulator/index.js'
import { recordLog } from './log-scan.js'

interface Teardown {
  teardown: (fn: () => unknown) => void
  fullname?: string
}

/** The gateway's configuration for one simulator, with quick CIC retries. */
export function simConfig (simUrl: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    CIC_BASE_URL: simUrl,
    CIC_USERNAME: DEMO_USERNAME,
    CIC_PASSWORD: DEMO_PASSWORD,
    SPOOL_DIR: join(tmpdir(), 'cic-gateway-outbox-spool'),
    LOG_LEVEL: 'debug',
    CIC_RETRY_BASE_DELAY_MS: '10',
    CIC_RETRY_MAX_DELAY_MS: '200',
    ...env
  })
}

/** A DeliveryService as the delivery plugin builds it. */
export function deliveryService (config: Config, logger: ReturnType<typeof createLogger>): DeliveryService {
  return deliveryServiceFor(config, logger)
}

export interface OutboxHarness {
  outbox: Outbox
  dir: string
  delivery: DeliveryService
  config: Config
  logs: () => Array<Record<string, unknown>>
  /** Opens another Outbox on the same directory (after closing the first), as a restart would, and starts it. */
  reopen: (overrides?: Partial<OutboxOptions>) => Promise<Outbox>
  /** Files in a subdirectory of the outbox (tmp, queue, done, corrupt). */
  files: (sub: string) => Promise<string[]>
}

export interface HarnessOptions {
  env?: Record<string, string>
  outbox?: Partial<OutboxOptions>
  /** Directory to use (to write files into it before open); a new one otherwise. */
  dir?: string
  /** Not started when false (default true). */
  start?: boolean
}

export async function openOutbox (t: Teardown, simUrl: string, opts: HarnessOptions = {}): Promise<OutboxHarness> {
  const dir = opts.dir ?? await mkdtemp(join(tmpdir(), 'cic-gateway-outbox-'))
  const config = simConfig(simUrl, opts.env)
  const lines: string[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(chunk.toString('utf8')); cb() } })
  const logger = createLogger('debug', sink)
  const delivery = deliveryService(config, logger)
  const opened: Outbox[] = []
  const make = async (overrides: Partial<OutboxOptions> = {}, start = true): Promise<Outbox> => {
    const outbox = await Outbox.open({
      dir,
      maxBytes: 64 * 1024 * 1024,
      maxAgeMs: 60_000,
      concurrency: 2,
      deliver: async doc => await delivery.deliver(doc),
      findDelivered: async (mailbox, filename, requestId) => await delivery.findDelivered(mailbox, filename, requestId),
      logger,
      retry: { baseMs: 20, maxMs: 200 },
      reconcileDelayMs: 0,
      ...opts.outbox,
      ...overrides
    })
    opened.push(outbox)
    if (start) outbox.start()
    return outbox
  }
  const outbox = await make({}, opts.start !== false)
  t.teardown(async () => {
    for (const o of opened) await o.close(1000)
    await delivery.close()
    await rm(dir, { recursive: true, force: true })
    const text = lines.join('')
    recordLog(t.fullname ?? 'outbox test', config.secrets, text)
    for (const s of config.secrets) {
      if (s.length > 0 && text.includes(s)) throw new Error('a secret reached the outbox log')
    }
  })
  return {
    outbox,
    dir,
    delivery,
    config,
    logs: () => lines.join('').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, unknown>),
    reopen: make,
    files: async sub => (await readdir(join(dir, sub))).sort()
  }
}

/** Accept arguments for a document held in memory. */
export function doc (filename: string, body: Buffer | string, extra: { caller?: string, mailbox?: string, idempotencyKey?: string, declare?: boolean } = {}): Parameters<Outbox['accept']>[0] {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body)
  return {
    caller: extra.caller ?? '',
    mailbox: extra.mailbox ?? 'default',
    filename,
    source: Readable.from([bytes]),
    ...(extra.declare === false ? {} : { expectedLength: bytes.length }),
    maxBytes: 16 * 1024 * 1024,
    ...(extra.idempotencyKey !== undefined ? { idempotencyKey: extra.idempotencyKey } : {})
  }
}

/** Waits until check() holds, polling; fails after timeoutMs. */
export async function until (check: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
