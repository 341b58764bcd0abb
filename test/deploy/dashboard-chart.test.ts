// The Grafana dashboard ships with the chart: the chart's copy is the dashboard under
// deploy/grafana, and dashboards.enabled renders it as a ConfigMap for Grafana's sidecar.
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { all, helmTemplate } from './helpers/helm.js'
import { chartDir, missingTools, repoRoot, tool } from './helpers/tools.js'

const NAME = 'cic-gateway-dashboard.json'

t.test('the chart carries the same dashboard as deploy/grafana', async t => {
  const source = await readFile(join(repoRoot, 'deploy', 'grafana', NAME), 'utf8')
  const copy = await readFile(join(chartDir, 'dashboards', NAME), 'utf8')
  t.equal(copy, source, `copy it again: cp deploy/grafana/${NAME} helm/cic-gateway/dashboards/`)
})

t.test('dashboards.enabled renders the dashboard as a labelled ConfigMap; off by default', { skip: missingTools(t, ['helm']) }, async t => {
  const helm = tool('helm')
  const off = await helmTemplate(helm)
  t.equal(off.code, 0, off.stderr)
  t.notOk(all(off.manifests, 'ConfigMap').some(m => m.data?.[NAME] !== undefined), 'no dashboard by default')

  const on = await helmTemplate(helm, { set: { 'dashboards.enabled': 'true' } })
  t.equal(on.code, 0, on.stderr)
  const cm = all(on.manifests, 'ConfigMap').find(m => m.data?.[NAME] !== undefined)
  t.ok(cm, 'a ConfigMap holds the dashboard')
  t.equal(cm?.metadata.labels?.grafana_dashboard, '1', 'labelled for the Grafana sidecar')
  const dashboard = JSON.parse(cm!.data![NAME]!) as { title?: string, panels?: unknown[] }
  const source = JSON.parse(await readFile(join(repoRoot, 'deploy', 'grafana', NAME), 'utf8')) as unknown
  t.same(dashboard, source, 'the rendered JSON is the dashboard, intact')
})
