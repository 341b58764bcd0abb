import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { loadConfig } from '../src/config/index.js'
import { postDocument, send } from './helpers/http.js'
import { scrape, type Scrape } from './helpers/prometheus.js'
import { startStack } from './helpers/stack.js'

const mailbox = 'default'

/** Scrapes until `ready` holds (bounded): for gauges read while a request is held by the simulator. */
async function scrapeUntil (url: string, ready: (s: Scrape) => boolean): Promise<Scrape> {
  let last = await scrape(url)
  for (let i = 0; i < 200 && !ready(last); i++) {
    await sleep(10)
    last = await scrape(url)
  }
  return last
}

t.test('after deliveries and failures, /metrics counts each document, byte, CIC call and login exactly', async t => {
  const stack = await startStack(t, { sim: { sameNamePolicy: 'reject' } })
  // Three deliveries: 10 + 20 + 30 bytes.
  for (const [name, size] of [['a.edi', 10], ['b.edi', 20], ['c.edi', 30]] as const) {
    t.equal((await postDocument(stack.url, name, Buffer.alloc(size, 0x41))).status, 201)
  }
  // Refused by the gateway (no CIC call), refused by CIC (409), CIC fails after the body (500 and dropped connection).
  t.equal((await postDocument(stack.url, '../x.edi', 'x')).status, 400)
  t.equal((await postDocument(stack.url, 'a.edi', 'again')).status, 409)
  stack.sim.inject('upload', { status: 500 })
  t.equal((await postDocument(stack.url, 'd.edi', 'd')).status, 502)
  stack.sim.inject('upload', { drop: 'mid-body' })
  t.equal((await postDocument(stack.url, 'e.edi', Buffer.alloc(64 * 1024, 1))).status, 502)

  const m = await scrape(stack.url)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'delivered' }), 3)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'refused', code: 'filename-invalid' }), 1)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'refused', code: 'cic-file-exists' }), 1)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'unknown', code: 'cic-error' }), 1)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'unknown', code: 'cic-connection-lost' }), 1)
  t.equal(m.select('cic_gateway_documents_total').reduce((n, s) => n + s.value, 0), 7, 'one count per document request, nothing else')
  t.equal(m.value('cic_gateway_delivered_bytes_total', { mailbox }), 60, 'only bytes CIC confirmed')

  t.equal(m.value('cic_gateway_upload_duration_seconds_count', { mailbox, outcome: 'delivered' }), 3)
  t.equal(m.value('cic_gateway_upload_duration_seconds_count', { mailbox, outcome: 'refused' }), 2)
  t.equal(m.value('cic_gateway_upload_duration_seconds_count', { mailbox, outcome: 'unknown' }), 2)
  t.equal(m.value('cic_gateway_upload_duration_seconds_bucket', { mailbox, outcome: 'delivered', le: '+Inf' }), 3)
  t.ok(m.value('cic_gateway_upload_duration_seconds_sum', { mailbox, outcome: 'delivered' })! > 0)
  t.equal(m.value('cic_gateway_uploads_in_flight', { mailbox }), 0)

  // CIC calls: the same counts the simulator saw, by status class.
  const calls = (operation: string, statusClass: string): number | undefined =>
    m.value('cic_gateway_cic_request_duration_seconds_count', { operation, status_class: statusClass })
  t.equal(calls('login', '2xx'), 1, 'one login: the token is cached')
  t.equal(calls('folders', '2xx'), 1)
  t.equal(calls('children', '2xx'), 1)
  t.equal(calls('upload', '2xx'), 3)
  t.equal(calls('upload', '4xx'), 1, 'the 409')
  t.equal(calls('upload', '5xx'), 1, 'the 500')
  t.equal(calls('upload', 'error'), 1, 'the dropped connection: no answer from CIC')
  const sim = stack.sim.calls
  for (const op of ['login', 'folders', 'children', 'upload'] as const) {
    const total = m.select('cic_gateway_cic_request_duration_seconds_count', { operation: op }).reduce((n, s) => n + s.value, 0)
    t.equal(total, sim[op], `${op}: every call the simulator received is counted once`)
  }

  t.equal(m.value('cic_gateway_cic_logins_total', { mailbox, result: 'success' }), 1)
  t.equal(m.value('cic_gateway_cic_logins_total', { mailbox, result: 'failure' }), 0)
  t.equal(m.value('cic_gateway_spool_bytes'), 0)
  t.equal(m.value('cic_gateway_circuit_state', { mailbox, state: 'closed' }), 1)
  t.equal(m.value('cic_gateway_circuit_state', { mailbox, state: 'open' }), 0)
  t.equal(m.value('cic_gateway_idempotent_replays_total', { mailbox }), 0)
  t.ok(m.value('process_cpu_user_seconds_total')! > 0, 'default process metrics are exported')
  t.ok(m.types.has('nodejs_eventloop_lag_seconds'))
  for (const s of m.samples.filter(s => s.name.startsWith('cic_gateway_'))) {
    t.notOk(Object.keys(s.labels).some(l => /file|id/i.test(l)), `${s.name}: no filename or id label`)
  }
})

t.test('/metrics answers in the Prometheus text format, every family named cic_gateway_* with base units', async t => {
  const stack = await startStack(t)
  const res = await send(`${stack.url}/metrics`, { method: 'GET' })
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const own = [...res.text.matchAll(/^# TYPE (cic_gateway_\S+) (\S+)$/gm)].map(m => [m[1], m[2]])
  t.same(own.map(([name]) => name).sort(), [
    'cic_gateway_cic_logins_total',
    'cic_gateway_cic_request_duration_seconds',
    'cic_gateway_circuit_state',
    'cic_gateway_delivered_bytes_total',
    'cic_gateway_documents_total',
    'cic_gateway_idempotent_replays_total',
    'cic_gateway_spool_bytes',
    'cic_gateway_upload_duration_seconds',
    'cic_gateway_uploads_in_flight'
  ])
  for (const [name, type] of own) {
    if (type === 'counter') t.match(name, /_total$/, `${name}: counters end in _total`)
    if (type === 'histogram') t.match(name, /_seconds$/, `${name}: durations in seconds`)
  }
})

t.test('a failed login is counted, and the document as failed with its code', async t => {
  const stack = await startStack(t, { env: { CIC_PASSWORD: 'Wrong@Pass&+%1' }, secrets: ['Wrong@Pass&+%1'] })
  t.equal((await postDocument(stack.url, 'a.edi', 'a')).status, 502)
  const m = await scrape(stack.url)
  t.equal(m.value('cic_gateway_cic_logins_total', { mailbox, result: 'failure' }), 1)
  t.equal(m.value('cic_gateway_cic_logins_total', { mailbox, result: 'success' }), 0)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'failed', code: 'cic-login-failed' }), 1)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'delivered' }), 0)
  t.equal(m.value('cic_gateway_cic_request_duration_seconds_count', { operation: 'login', status_class: '4xx' }), 1)
  t.equal(m.value('cic_gateway_cic_request_duration_seconds_count', { operation: 'upload', status_class: '2xx' }), undefined, 'no upload was attempted')
})

t.test('CIC unreachable: every attempt is counted with status class "error", the login once, the document as failed', async t => {
  const stack = await startStack(t, { env: { CIC_RETRIES: '2', CIC_RETRY_BASE_DELAY_MS: '1', CIC_RETRY_MAX_DELAY_MS: '5' } })
  await stack.sim.close()
  t.equal((await postDocument(stack.url, 'a.edi', 'a')).status, 503)
  const m = await scrape(stack.url)
  t.equal(m.value('cic_gateway_cic_request_duration_seconds_count', { operation: 'login', status_class: 'error' }), 3, 'the call and its two retries')
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'failed', code: 'cic-unreachable' }), 1)
  t.equal(m.value('cic_gateway_cic_logins_total', { mailbox, result: 'failure' }), 1, 'one failed login, after its retries')
})

t.test('in-flight uploads and spooled bytes are gauges read while an upload is held by CIC', async t => {
  const stack = await startStack(t, { env: { MEMORY_BODY_BYTES: '1024' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { delayMs: 3000 })
  // Chunked (unknown length) and over MEMORY_BODY_BYTES: spooled to a file before the upload.
  const body = Readable.from([Buffer.alloc(4096, 1), Buffer.alloc(4096, 2), Buffer.alloc(2048, 3)])
  const pending = send(`${stack.url}/documents?filename=held.edi`, { body, headers: { 'content-type': 'application/octet-stream' } })
  // The upload reaching CIC means the body is spooled in full; CIC holds the answer back for a while.
  for (let i = 0; i < 500 && stack.sim.calls.upload < 2; i++) await sleep(10)
  const during = await scrape(stack.url)
  t.equal(during.value('cic_gateway_uploads_in_flight', { mailbox }), 1)
  t.equal(during.value('cic_gateway_spool_bytes'), 10240, 'the spooled body, byte for byte')
  t.equal((await pending).status, 201)
  const after = await scrape(stack.url)
  t.equal(after.value('cic_gateway_uploads_in_flight', { mailbox }), 0)
  t.equal(after.value('cic_gateway_spool_bytes'), 0, 'the spool file was released')
  t.equal(after.value('cic_gateway_delivered_bytes_total', { mailbox }), 10241)
})

t.test('a caller hanging up mid-upload leaves no in-flight count behind', async t => {
  const stack = await startStack(t)
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { delayMs: 5000 })
  const abort = new AbortController()
  const pending = send(`${stack.url}/documents?filename=gone.edi`, { body: 'bye', signal: abort.signal }).catch(() => undefined)
  await scrapeUntil(stack.url, s => s.value('cic_gateway_uploads_in_flight', { mailbox }) === 1)
  abort.abort()
  await pending
  const after = await scrapeUntil(stack.url, s => s.value('cic_gateway_uploads_in_flight', { mailbox }) === 0)
  t.equal(after.value('cic_gateway_uploads_in_flight', { mailbox }), 0)
  t.equal(after.select('cic_gateway_documents_total', { mailbox, outcome: 'unknown' }).length + after.select('cic_gateway_documents_total', { mailbox, outcome: 'failed' }).length, 1, 'the abandoned document is counted once, not as delivered')
  t.equal(after.value('cic_gateway_documents_total', { mailbox, outcome: 'delivered' }), 1)
})

t.test('each gateway has its own registry: two gateways in one process count separately', async t => {
  const one = await startStack(t)
  const two = await startStack(t)
  t.equal((await postDocument(one.url, 'a.edi', 'a')).status, 201)
  t.equal((await scrape(one.url)).value('cic_gateway_documents_total', { mailbox, outcome: 'delivered' }), 1)
  t.equal((await scrape(two.url)).value('cic_gateway_documents_total', { mailbox, outcome: 'delivered' }), 0)
})

t.test('circuit state and idempotent replays reach the exported series', async t => {
  const stack = await startStack(t)
  stack.gateway.metrics.setCircuitState(mailbox, 'open')
  t.equal((await postDocument(stack.url, 'r.edi', 'r', { 'idempotency-key': 'k-r' })).status, 201)
  t.equal((await postDocument(stack.url, 'r.edi', 'r', { 'idempotency-key': 'k-r' })).headers['idempotent-replayed'], 'stored')
  const m = await scrape(stack.url)
  t.equal(m.value('cic_gateway_circuit_state', { mailbox, state: 'open' }), 1)
  t.equal(m.value('cic_gateway_circuit_state', { mailbox, state: 'closed' }), 0)
  t.equal(m.value('cic_gateway_circuit_state', { mailbox, state: 'half-open' }), 0)
  t.equal(m.value('cic_gateway_idempotent_replays_total', { mailbox }), 1, 'the repeat answered from the store')
})

t.test('with METRICS_PORT, /metrics is served on its own listener and not on the API port', async t => {
  const stack = await startStack(t, { env: { METRICS_PORT: '0' } })
  const metricsServer = stack.gateway.metricsServer
  if (metricsServer === null) throw new Error('no metrics listener')
  const address = await metricsServer.listen({ host: '127.0.0.1', port: 0 })
  t.equal((await postDocument(stack.url, 'a.edi', 'a')).status, 201)
  const onApi = await send(`${stack.url}/metrics`, { method: 'GET' })
  t.equal(onApi.status, 404, 'not exposed with the API')
  t.equal((await scrape(address)).value('cic_gateway_documents_total', { mailbox, outcome: 'delivered' }), 1)
  t.equal((await send(`${address}/documents?filename=x.edi`, { body: 'x' })).status, 404, 'the metrics listener serves nothing else')
})

t.test('without METRICS_PORT there is no separate listener', async t => {
  const stack = await startStack(t)
  t.equal(stack.gateway.metricsServer, null)
  t.equal((await send(`${stack.url}/metrics`, { method: 'GET' })).status, 200)
})

t.test('METRICS_PORT is validated and must differ from PORT', async t => {
  const base = { CIC_BASE_URL: 'http://127.0.0.1:1', CIC_USERNAME: 'u', CIC_PASSWORD: 'p' }
  t.equal(loadConfig({ ...base, METRICS_PORT: '9464' }).metricsPort, 9464)
  t.equal(loadConfig(base).metricsPort, undefined)
  t.throws(() => loadConfig({ ...base, METRICS_PORT: 'x' }), /METRICS_PORT/)
  t.throws(() => loadConfig({ ...base, PORT: '9000', METRICS_PORT: '9000' }), /METRICS_PORT must differ from PORT/)
})

t.test('the circuit breaker\'s state changes reach cic_gateway_circuit_state', async t => {
  const stack = await startStack(t, { env: { CIRCUIT_FAILURE_THRESHOLD: '2', CIRCUIT_HALF_OPEN_AFTER_SECONDS: '60', CIC_RETRIES: '0' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { status: 500, times: 2 })
  for (let i = 0; i < 2; i++) t.equal((await postDocument(stack.url, `f${i}.edi`, 'x')).status, 502)
  t.equal((await postDocument(stack.url, 'refused.edi', 'x')).status, 503)
  const m = await scrape(stack.url)
  t.equal(m.value('cic_gateway_circuit_state', { mailbox, state: 'open' }), 1)
  t.equal(m.value('cic_gateway_circuit_state', { mailbox, state: 'closed' }), 0)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'failed', code: 'circuit-open' }), 1)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'unknown', code: 'cic-error' }), 2)
})

t.test('an idempotent repeat is counted as replayed, not as a second delivery or more bytes', async t => {
  const stack = await startStack(t)
  t.equal((await postDocument(stack.url, 'po-1.edi', 'order one', { 'idempotency-key': 'k-1' })).status, 201)
  t.equal((await postDocument(stack.url, 'po-1.edi', 'order one', { 'idempotency-key': 'k-1' })).status, 201)
  const m = await scrape(stack.url)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'delivered' }), 1)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'replayed' }), 1)
  t.equal(m.value('cic_gateway_idempotent_replays_total', { mailbox }), 1)
  t.equal(m.value('cic_gateway_delivered_bytes_total', { mailbox }), 9)
  t.equal(m.value('cic_gateway_cic_request_duration_seconds_count', { operation: 'upload', status_class: '2xx' }), 1)
})

t.test('a document shed at the upload cap is counted as failed with code "overloaded"', async t => {
  const stack = await startStack(t, { env: { MAX_CONCURRENT_UPLOADS: '1' } })
  t.equal((await postDocument(stack.url, 'warm.edi', 'w')).status, 201)
  stack.sim.inject('upload', { delayMs: 3000 })
  const held = postDocument(stack.url, 'held.edi', 'h')
  await scrapeUntil(stack.url, s => s.value('cic_gateway_uploads_in_flight', { mailbox }) === 1)
  t.equal((await postDocument(stack.url, 'shed.edi', 's')).status, 503)
  t.equal((await held).status, 201)
  const m = await scrape(stack.url)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'failed', code: 'overloaded' }), 1)
  t.equal(m.value('cic_gateway_documents_total', { mailbox, outcome: 'delivered' }), 2)
  t.equal(m.value('cic_gateway_uploads_in_flight', { mailbox }), 0)
})
