// deploy/grafana/cic-gateway-dashboard.json: valid against Grafana's own dashboard schema
// (generated from the types @grafana/schema publishes), laid out as Grafana expects, and
// every PromQL query names only metrics a running gateway exports.
import { parser } from '@prometheus-io/lezer-promql'
import { Ajv } from 'ajv'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { createGenerator } from 'ts-json-schema-generator'
import { postDocument } from './helpers/http.js'
import { scrape } from './helpers/prometheus.js'
import { startStack } from './helpers/stack.js'

const DASHBOARD = fileURLToPath(new URL('../deploy/grafana/cic-gateway-dashboard.json', import.meta.url))

interface Target { refId?: string, expr?: string, datasource?: { type?: string, uid?: string } }
interface Panel {
  id: number
  type: string
  title: string
  gridPos: { x: number, y: number, w: number, h: number }
  datasource?: { type?: string, uid?: string }
  targets?: Target[]
  fieldConfig?: { defaults?: { unit?: string } }
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[], templating: { list: Array<{ name: string, type: string, query: unknown }> }, [k: string]: unknown }
const panels = dashboard.panels.filter(p => p.type !== 'row')
const targets = panels.flatMap(p => (p.targets ?? []).map(target => ({ panel: p.title, ...target })))

/** Grafana's variables replaced by what they stand for, so the expression is plain PromQL. */
function plainPromql (expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m')
}

/** The metric names an expression selects (vector and range selectors), from a real PromQL parse. */
function metricNames (expr: string): { names: string[], errors: string[] } {
  const text = plainPromql(expr)
  const names: string[] = []
  const errors: string[] = []
  parser.parse(text).iterate({
    enter: node => {
      if (node.type.isError) errors.push(`syntax error at ${node.from}: ${JSON.stringify(text.slice(Math.max(0, node.from - 10), node.to + 10))}`)
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') names.push(text.slice(node.from, node.to))
      if (node.name === 'LabelName' && text.slice(node.from, node.to) === '__name__') errors.push('__name__ matchers are not checked: name the metric')
    }
  })
  return { names, errors }
}

t.test('the dashboard validates against the Grafana dashboard schema from @grafana/schema', async t => {
  const typesFile = join(dirname(createRequire(import.meta.url).resolve('@grafana/schema/package.json')), 'dist/types/raw/dashboard/x/types.gen.d.ts')
  // The classic dashboard model (what Grafana imports and provisions), as Grafana's published TypeScript types define it;
  // additionalProperties false: a misspelt field (gridpos, target) fails instead of being ignored by Grafana.
  const schema = createGenerator({ path: typesFile, type: 'Dashboard', skipTypeCheck: true, additionalProperties: false, expose: 'all' }).createSchema('Dashboard')
  const ajv = new Ajv({ strict: false, allErrors: true })
  const validate = ajv.compile(schema)
  const valid = validate(dashboard)
  t.ok(valid, 'valid Grafana dashboard')
  if (!valid) t.comment(JSON.stringify(validate.errors?.slice(0, 10), null, 2))

  // The negative control: the same check refuses a broken dashboard.
  const broken = structuredClone(dashboard) as Record<string, any>
  delete broken.schemaVersion
  broken.panels[1].gridpos = broken.panels[1].gridPos
  t.notOk(validate(broken), 'a dashboard without schemaVersion and with a misspelt field is refused')
})

t.test('the layout is what Grafana expects: unique ids, panels on the 24-column grid without overlaps, a datasource and queries on every panel', async t => {
  t.type(dashboard.uid, 'string')
  t.type(dashboard.title, 'string')
  t.type(dashboard.schemaVersion, 'number')
  const ids = dashboard.panels.map(p => p.id)
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique')
  const datasource = dashboard.templating.list.find(v => v.name === 'datasource')
  t.equal(datasource?.type, 'datasource')
  t.equal(datasource?.query, 'prometheus', 'the data source is a Prometheus one, chosen by the user')
  for (const p of dashboard.panels) {
    const { x, y, w, h } = p.gridPos
    t.ok(Number.isInteger(x) && Number.isInteger(y) && w >= 1 && h >= 1 && x + w <= 24, `${p.title}: on the grid`)
  }
  for (const a of dashboard.panels) {
    for (const b of dashboard.panels) {
      if (a.id >= b.id) continue
      const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w &&
        a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h
      t.notOk(overlap, `${a.title} and ${b.title} do not overlap`)
    }
  }
  for (const p of panels) {
    // eslint-disable-next-line no-template-curly-in-string -- Grafana's variable syntax, not a template
    t.same(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${p.title}: uses the chosen data source`)
    t.ok((p.targets ?? []).length > 0, `${p.title}: has queries`)
    t.type(p.fieldConfig?.defaults?.unit, 'string', `${p.title}: has a unit`)
    const refIds = (p.targets ?? []).map(q => q.refId)
    t.equal(new Set(refIds).size, refIds.length, `${p.title}: refIds unique`)
    for (const q of p.targets ?? []) {
      t.type(q.expr, 'string', `${p.title}/${String(q.refId)}: has a PromQL expression`)
      t.same(q.datasource, p.datasource, `${p.title}/${String(q.refId)}: same data source as its panel`)
    }
  }
})

t.test('every query parses as PromQL and names only metrics the gateway exports (histograms by _bucket/_sum/_count)', async t => {
  // With an outbox (OUTBOX_DIR), so its series are exported too.
  const outboxDir = await mkdtemp(join(tmpdir(), 'cic-gateway-dashboard-'))
  t.teardown(async () => { await rm(outboxDir, { recursive: true, force: true }) })
  const stack = await startStack(t, { env: { OUTBOX_DIR: join(outboxDir, 'outbox') } })
  t.equal((await postDocument(stack.url, 'a.edi', 'a')).status, 201)
  const m = await scrape(stack.url)
  const exported = new Set<string>()
  for (const [name, type] of m.types) {
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(name + suffix)
    else if (type === 'summary') for (const suffix of ['', '_sum', '_count']) exported.add(name + suffix)
    else exported.add(name)
  }
  t.ok(exported.has('cic_gateway_upload_duration_seconds_bucket'), 'the exported set is read from a real scrape')

  const used = new Set<string>()
  for (const q of targets) {
    const { names, errors } = metricNames(q.expr ?? '')
    t.same(errors, [], `${q.panel}/${String(q.refId)}: parses`)
    t.ok(names.length > 0, `${q.panel}/${String(q.refId)}: selects a metric`)
    for (const name of names) {
      used.add(name)
      t.ok(exported.has(name), `${q.panel}: ${name} is exported by the gateway`)
    }
  }
  for (const v of dashboard.templating.list.filter(v => v.type === 'query')) {
    const query = (v.query as { query: string }).query
    const metric = /label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(query)?.[1]
    t.ok(metric !== undefined && exported.has(metric), `variable ${v.name}: ${String(metric)} is exported`)
  }

  // The operator's questions each have a panel: delivery and error rate by mailbox, latency
  // percentiles, bytes per second, in-flight uploads, logins.
  for (const name of ['cic_gateway_documents_total', 'cic_gateway_upload_duration_seconds_bucket', 'cic_gateway_delivered_bytes_total', 'cic_gateway_uploads_in_flight', 'cic_gateway_cic_logins_total', 'cic_gateway_cic_request_duration_seconds_bucket']) {
    t.ok(used.has(name), `a panel shows ${name}`)
  }
  // Store and forward: the age of the oldest queued document and the failed deliveries.
  for (const name of ['cic_gateway_outbox_oldest_queued_seconds', 'cic_gateway_outbox_failed_total', 'cic_gateway_outbox_queued_documents']) {
    t.ok(used.has(name), `a panel shows ${name}`)
  }
  const latency = targets.filter(q => q.expr?.includes('histogram_quantile') === true && q.expr.includes('cic_gateway_upload_duration_seconds_bucket'))
  t.ok(latency.length >= 3, 'upload latency percentiles (p50, p90, p99)')
  t.ok(targets.some(q => /sum by \(mailbox\).*outcome=~"failed\|unknown"/.test(q.expr ?? '')), 'an error rate by mailbox')
})

t.test('the PromQL check itself catches an unknown metric and a syntax error', async t => {
  t.same(metricNames('sum(rate(cic_gateway_nope_total[$__rate_interval]))').names, ['cic_gateway_nope_total'])
  t.ok(metricNames('sum(rate(cic_gateway_documents_total[5m])').errors.length > 0, 'an unbalanced parenthesis is a syntax error')
})
