// The Helm chart, checked with real tools: helm lint/template, kubeconform against the
// Kubernetes API schemas (offline), and assertions on what issue 6 asks of each object.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { allOnValues, find, helmTemplate, kubeconform, parseManifests, type Manifest, type RenderOptions } from './helpers/helm.js'
import { chartDir, kubeVersions, missingTools, run, tool } from './helpers/tools.js'
import { parser as promqlParser } from '@prometheus-io/lezer-promql'
import { Metrics } from '../../src/observability/metrics.js'
import { parsePrometheus } from '../helpers/prometheus.js'

const skip = missingTools(t, ['helm', 'kubeconform', 'kubernetes-schemas'])

/** The value sets every structural check runs on. */
const cases: Record<string, RenderOptions> = {
  'default values': {},
  'ci/all-on-values.yaml': { valuesFiles: [allOnValues] },
  existingSecret: {
    set: {
      existingSecret: 'cic-gateway-credentials',
      'cic.baseUrl': 'https://acme.cleointegration.com',
      'cic.username': 'acme_gateway'
    }
  },
  'redis.url with 3 replicas, password Secret, CA ConfigMap, NetworkPolicy': {
    set: {
      'redis.url': 'rediss://redis.data.svc:6380/1',
      'redis.existingSecret': 'redis-credentials',
      'redis.caConfigMap': 'redis-ca-bundle',
      replicaCount: '3',
      'networkPolicy.enabled': 'true'
    }
  },
  'per-replica keys acknowledged': { set: { replicaCount: '2', 'redis.perReplicaKeysAcknowledged': 'true' } }
}

async function render (options: RenderOptions): Promise<Manifest[]> {
  const result = await helmTemplate(tool('helm'), options)
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`)
  return result.manifests
}

function deployment (manifests: Manifest[]): any {
  const d = find(manifests, 'Deployment')
  if (d === undefined) throw new Error('no Deployment rendered')
  return d
}

function container (manifests: Manifest[]): any {
  return deployment(manifests).spec.template.spec.containers[0]
}

t.test('helm lint passes on the default values and on every option on', { skip }, async (t) => {
  for (const args of [[], ['--values', allOnValues]]) {
    const result = await run(tool('helm'), ['lint', '--strict', chartDir, ...args])
    t.equal(result.code, 0, `helm lint --strict ${args.join(' ')}\n${result.stdout}${result.stderr}`)
    t.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/)
  }
})

t.test('every rendered manifest is valid against the Kubernetes API schemas', { skip }, async (t) => {
  for (const [name, options] of Object.entries(cases)) {
    for (const kubeVersion of kubeVersions) {
      const rendered = await helmTemplate(tool('helm'), { ...options, kubeVersion })
      t.equal(rendered.code, 0, `${name} renders for Kubernetes ${kubeVersion}: ${rendered.stderr}`)
      const result = await kubeconform(tool('kubeconform'), rendered.yaml, kubeVersion)
      const report = JSON.parse(result.stdout) as { resources: unknown[], summary: { valid: number, invalid: number, errors: number, skipped: number } }
      t.equal(result.code, 0, `${name} on Kubernetes ${kubeVersion}: ${result.stdout}${result.stderr}`)
      t.same(report.summary, { valid: rendered.manifests.length, invalid: 0, errors: 0, skipped: 0 }, `${name} on ${kubeVersion}: all ${rendered.manifests.length} resources validated, none skipped`)
    }
  }
})

t.test('the schema validation rejects what the API server would (negative control)', { skip }, async (t) => {
  const manifests = await render({ valuesFiles: [allOnValues] })
  const broken = structuredClone(manifests)
  deployment(broken).spec.template.spec.containers[0].securityContext.readOnlyRootFilesytem = true // typo
  find(broken, 'NetworkPolicy')!.spec.ingress[0].ports[0].protocol = 7
  find(broken, 'ServiceMonitor')!.spec.endpoints[0].intervall = '30s' // typo in the CRD
  const yaml = broken.map((m) => JSON.stringify(m)).join('\n---\n')
  const result = await kubeconform(tool('kubeconform'), yaml, '1.37.0')
  t.not(result.code, 0)
  const report = JSON.parse(result.stdout) as { resources: Array<{ kind: string, status: string }>, summary: { invalid: number } }
  t.equal(report.summary.invalid, 3, 'the Deployment, the NetworkPolicy and the ServiceMonitor are invalid')
  t.same(report.resources.map((r) => r.kind).sort(), ['Deployment', 'NetworkPolicy', 'ServiceMonitor'])
})

t.test('default values render the base objects; optional ones follow their switches', { skip }, async (t) => {
  const kinds = (ms: Manifest[]): string[] => ms.map((m) => m.kind).sort()
  const base = await render({})
  t.same(kinds(base), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount'], 'no credentials given: no Secret')
  const allOn = await render({ valuesFiles: [allOnValues] })
  // ConfigMaps: the gateway's, the mailbox config file, the Grafana dashboard.
  t.same(kinds(allOn), ['ConfigMap', 'ConfigMap', 'ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount', 'ServiceMonitor'])
  const off = await render({ set: { 'podDisruptionBudget.enabled': 'false', 'autoscaling.enabled': 'false', 'networkPolicy.enabled': 'false', 'serviceMonitor.enabled': 'false' }, valuesFiles: [allOnValues] })
  for (const kind of ['PodDisruptionBudget', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'ServiceMonitor']) {
    t.equal(find(off, kind), undefined, `${kind} off`)
  }

  const service = find(base, 'Service')!
  t.equal(service.spec.type, 'ClusterIP')
  t.same(service.spec.ports[0], { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' })
  const sa = find(base, 'ServiceAccount')!
  t.equal(sa.automountServiceAccountToken, false, 'ServiceAccount does not automount a token')
  t.equal(deployment(base).spec.template.spec.automountServiceAccountToken, false, 'nor does the pod')

  const hpa = find(allOn, 'HorizontalPodAutoscaler')!
  t.equal(hpa.apiVersion, 'autoscaling/v2')
  t.same(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment(allOn).metadata.name })
  t.equal(deployment(allOn).spec.replicas, undefined, 'with autoscaling on, the Deployment leaves replicas to the HPA')
  t.equal(deployment(base).spec.replicas, 1, 'one pod by default (no shared store)')

  const pdb = find(base, 'PodDisruptionBudget')!
  t.equal(pdb.apiVersion, 'policy/v1')
  t.same(pdb.spec.selector.matchLabels, deployment(base).spec.selector.matchLabels)
  t.equal(find(allOn, 'PodDisruptionBudget')!.spec.minAvailable, 2)

  const sm = find(allOn, 'ServiceMonitor')!
  t.same(sm.spec.endpoints, [{ port: 'metrics', path: '/metrics', interval: '15s', scrapeTimeout: '5s' }])
  t.equal(sm.metadata.labels?.release, 'prometheus')
  t.ok(find(allOn, 'Service')!.spec.ports.some((p: any) => p.name === 'metrics' && p.port === 9464), 'Service exposes the metrics port')
  const noMetricsPort = await render({ set: { 'metrics.port': 'null', 'serviceMonitor.enabled': 'true' } })
  t.equal(find(noMetricsPort, 'ServiceMonitor')!.spec.endpoints[0].port, 'http', 'metrics on the main port when metrics.port is null')
})

t.test('pods follow the restricted Pod Security Standard', { skip }, async (t) => {
  for (const [name, options] of Object.entries(cases)) {
    const manifests = await render(options)
    const pod = deployment(manifests).spec.template.spec
    const c = container(manifests)
    t.equal(pod.securityContext.runAsNonRoot, true, `${name}: pod runAsNonRoot`)
    t.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault', `${name}: pod seccomp RuntimeDefault`)
    t.not(pod.securityContext.runAsUser, 0, `${name}: not uid 0`)
    t.equal(pod.hostNetwork ?? false, false)
    t.equal(pod.hostPID ?? false, false)
    t.equal(c.securityContext.runAsNonRoot, true, `${name}: container runAsNonRoot`)
    t.equal(c.securityContext.allowPrivilegeEscalation, false, `${name}: no privilege escalation`)
    t.same(c.securityContext.capabilities, { drop: ['ALL'] }, `${name}: all capabilities dropped, none added`)
    t.equal(c.securityContext.seccompProfile.type, 'RuntimeDefault')
    t.equal(c.securityContext.readOnlyRootFilesystem, true, `${name}: read-only root filesystem`)
    t.equal(c.securityContext.privileged, false)
    for (const v of pod.volumes) t.notOk(v.hostPath, `${name}: no hostPath volume (${v.name})`)
    t.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, `${name}: resources set`)
  }
})

t.test('the only writable path is an emptyDir at /tmp sized for the spool', { skip }, async (t) => {
  for (const [name, options] of Object.entries(cases)) {
    const manifests = await render(options)
    const pod = deployment(manifests).spec.template.spec
    const c = container(manifests)
    const tmpMount = c.volumeMounts.find((m: any) => m.mountPath === '/tmp')
    t.ok(tmpMount, `${name}: /tmp mounted`)
    const tmpVolume = pod.volumes.find((v: any) => v.name === tmpMount.name)
    t.ok(tmpVolume.emptyDir, `${name}: /tmp is an emptyDir`)
    t.match(tmpVolume.emptyDir.sizeLimit, /^\d+(Mi|Gi)$/, `${name}: /tmp has a sizeLimit`)
    const writable = c.volumeMounts.filter((m: any) => m.readOnly !== true).map((m: any) => m.mountPath)
    t.same(writable, ['/tmp'], `${name}: every other mount is read-only`)
    const env = find(manifests, 'ConfigMap')!.data!
    t.match(env.SPOOL_DIR, /^\/tmp\//, 'the spool lives under /tmp')
  }
  const allOn = await render({ valuesFiles: [allOnValues] })
  t.same(deployment(allOn).spec.template.spec.volumes.find((v: any) => v.name === 'tmp').emptyDir, { medium: 'Memory', sizeLimit: '2Gi' })
})

t.test('liveness checks the process, readiness checks CIC', { skip }, async (t) => {
  for (const [name, options] of Object.entries(cases)) {
    const c = container(await render(options))
    t.equal(c.livenessProbe.httpGet.path, '/livez', `${name}: liveness on /livez`)
    t.equal(c.readinessProbe.httpGet.path, '/readyz', `${name}: readiness on /readyz`)
    t.equal(c.startupProbe.httpGet.path, '/livez', `${name}: startup on /livez (a CIC outage must not block start-up forever)`)
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) t.equal(probe.httpGet.port, 'http')
    t.ok(c.ports.some((p: any) => p.name === 'http' && p.containerPort === 8080))
  }
})

t.test('graceful shutdown: preStop sleep, and a grace period that covers the longest upload', { skip }, async (t) => {
  const base = await render({ kubeVersion: '1.37.0' })
  const env = find(base, 'ConfigMap')!.data!
  const pod = deployment(base).spec.template.spec
  t.same(container(base).lifecycle.preStop, { sleep: { seconds: 5 } }, 'native sleep action on Kubernetes >= 1.30')
  t.equal(env.SHUTDOWN_DELAY_SECONDS, '5')
  t.equal(env.SHUTDOWN_TIMEOUT_SECONDS, '300')
  t.equal(pod.terminationGracePeriodSeconds, 5 + 5 + 300 + 10, 'preStop + SHUTDOWN_DELAY_SECONDS + SHUTDOWN_TIMEOUT_SECONDS + margin')

  const old = await render({ kubeVersion: '1.29.0' })
  t.same(container(old).lifecycle.preStop, { exec: { command: ['sleep', '5'] } }, 'exec sleep before Kubernetes 1.30')

  const allOn = await render({ valuesFiles: [allOnValues] })
  t.equal(deployment(allOn).spec.template.spec.terminationGracePeriodSeconds, 630)
  t.equal(find(allOn, 'ConfigMap')!.data!.SHUTDOWN_TIMEOUT_SECONDS, '600')

  const tooShort = await helmTemplate(tool('helm'), { set: { 'shutdown.terminationGracePeriodSeconds': '60' } })
  t.not(tooShort.code, 0, 'a grace period shorter than the shutdown is refused')
  t.match(tooShort.stderr, /terminationGracePeriodSeconds \(60\) must be at least .* \(310\)/)

  const longer = await render({ set: { 'shutdown.timeoutSeconds': '900' } })
  t.equal(deployment(longer).spec.template.spec.terminationGracePeriodSeconds, 920, 'the grace period follows SHUTDOWN_TIMEOUT_SECONDS')

  const strategy = deployment(base).spec.strategy
  t.same(strategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 }, 'rollouts never drop capacity')
})

t.test('checksum annotations change exactly when the Secret or the ConfigMap does', { skip }, async (t) => {
  const base: Record<string, string> = { 'cic.baseUrl': 'https://acme.cleointegration.com', 'cic.username': 'u', 'cic.password': 'p1', 'auth.apiKeys[0]': 'k1' }
  const annotations = async (set: Record<string, string>): Promise<Record<string, string>> =>
    deployment(await render({ set: { ...base, ...set } })).spec.template.metadata.annotations
  const before = await annotations({})
  t.match(before['checksum/secret'], /^[a-f0-9]{64}$/)
  t.match(before['checksum/config'], /^[a-f0-9]{64}$/)

  const password = await annotations({ 'cic.password': 'p2' })
  t.not(password['checksum/secret'], before['checksum/secret'], 'new CIC password: new secret checksum')
  t.equal(password['checksum/config'], before['checksum/config'])

  const key = await annotations({ 'auth.apiKeys[1]': 'k2' })
  t.not(key['checksum/secret'], before['checksum/secret'], 'new caller key: new secret checksum')

  const config = await annotations({ 'config.defaultMailbox': 'alpha' })
  t.not(config['checksum/config'], before['checksum/config'], 'new config file: new config checksum')
  t.equal(config['checksum/secret'], before['checksum/secret'])

  const level = await annotations({ 'gateway.logLevel': 'debug' })
  t.not(level['checksum/config'], before['checksum/config'], 'new environment: new config checksum')

  const unrelated = await annotations({ replicaCount: '5', 'redis.perReplicaKeysAcknowledged': 'true' })
  t.same(unrelated, before, 'an unrelated change rolls nothing')

  const existing = async (name: string): Promise<string> =>
    deployment(await render({ set: { existingSecret: name } })).spec.template.metadata.annotations['checksum/secret']
  t.not(await existing('a'), await existing('b'), 'pointing at another existing Secret rolls the pods')
})

t.test('existingSecret: no Secret rendered, the Deployment mounts the named one', { skip }, async (t) => {
  const manifests = await render(cases.existingSecret!)
  t.equal(find(manifests, 'Secret'), undefined, 'no Secret')
  const pod = deployment(manifests).spec.template.spec
  const volume = pod.volumes.find((v: any) => v.secret !== undefined)
  t.equal(volume.secret.secretName, 'cic-gateway-credentials')
  t.equal(volume.secret.defaultMode, 0o440)
  const mount = container(manifests).volumeMounts.find((m: any) => m.name === volume.name)
  t.same(mount, { name: volume.name, mountPath: '/etc/cic-gateway/secrets', readOnly: true })
  const env = find(manifests, 'ConfigMap')!.data!
  t.equal(env.CIC_PASSWORD_FILE, '/etc/cic-gateway/secrets/cic-password')
  t.equal(env.GATEWAY_API_KEYS_FILE, '/etc/cic-gateway/secrets/gateway-api-keys')
  t.equal(env.CIC_BASE_URL, 'https://acme.cleointegration.com')
  t.equal(env.NODE_ENV, 'production')

  // The same values with inline credentials render the chart's own Secret instead.
  const inline = await render({ set: { 'cic.password': 'pw', 'auth.apiKeys[0]': 'key-a', 'auth.apiKeys[1]': 'key-b' } })
  const secret = find(inline, 'Secret')!
  t.same(secret.stringData, { 'cic-password': 'pw', 'gateway-api-keys': 'key-a,key-b' })
  t.equal(deployment(inline).spec.template.spec.volumes.find((v: any) => v.secret !== undefined).secret.secretName, secret.metadata.name)
  t.notMatch(JSON.stringify(find(inline, 'ConfigMap')), /key-a|"pw"/, 'secrets never land in the ConfigMap')
})

t.test('the config value becomes a mounted file named by GATEWAY_CONFIG_FILE', { skip }, async (t) => {
  const manifests = await render({ valuesFiles: [allOnValues] })
  const env = find(manifests, 'ConfigMap', 'all-on')!.data!
  const files = find(manifests, 'ConfigMap', '-files')!.data!
  t.equal(env.GATEWAY_CONFIG_FILE, '/etc/cic-gateway/config/config.yaml')
  t.equal(env.CIC_CA_FILE, '/etc/cic-gateway/config/ca.pem')
  const config = parseYaml(files['config.yaml']!) as any
  const values = parseYaml(await readFile(allOnValues, 'utf8')) as any
  t.same(config, values.config, 'config.yaml is the config value, verbatim')
  t.match(files['ca.pem'], /BEGIN CERTIFICATE/)
  const mount = container(manifests).volumeMounts.find((m: any) => m.mountPath === '/etc/cic-gateway/config')
  t.equal(mount.readOnly, true)
  const volume = deployment(manifests).spec.template.spec.volumes.find((v: any) => v.name === mount.name)
  t.equal(volume.configMap.name, find(manifests, 'ConfigMap', '-files')!.metadata.name)
  t.equal(find(manifests, 'Secret')!.stringData!['beta-password'], 'ci-only-beta-password', 'extraSecrets are files next to the CIC password')
  const noAuth = await render({ set: { 'auth.enabled': 'false' } })
  t.equal(find(noAuth, 'ConfigMap')!.data!.GATEWAY_AUTH, 'none')
})

t.test('NetworkPolicy: ingress only from labelled namespaces or pods, egress only to DNS and CIC', { skip }, async (t) => {
  const manifests = await render({ set: { 'networkPolicy.enabled': 'true' } })
  const np = find(manifests, 'NetworkPolicy')!
  t.same(np.spec.podSelector.matchLabels, deployment(manifests).spec.selector.matchLabels, 'selects the gateway pods')
  t.same(np.spec.policyTypes, ['Ingress', 'Egress'], 'both directions are restricted')

  const [callers, metrics, ...moreIngress] = np.spec.ingress
  t.same(moreIngress, [])
  t.same(callers.from, [
    { namespaceSelector: { matchLabels: { 'cic-gateway/access': 'true' } } },
    { podSelector: { matchLabels: { 'cic-gateway/access': 'true' } } }
  ], 'callers: labelled namespaces, or labelled pods')
  t.same(callers.ports, [{ port: 'http', protocol: 'TCP' }])
  t.same(metrics.from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }])
  t.same(metrics.ports, [{ port: 'metrics', protocol: 'TCP' }])
  for (const rule of np.spec.ingress) {
    t.ok(Array.isArray(rule.from) && rule.from.length > 0, 'no ingress rule admits everyone')
    for (const peer of rule.from) {
      t.notOk(peer.ipBlock, 'no ipBlock ingress')
      const selector = peer.namespaceSelector ?? peer.podSelector
      t.ok(Object.keys(selector.matchLabels ?? {}).length > 0, 'peers are selected by label, never by an empty selector')
    }
  }

  const [dns, cic, ...moreEgress] = np.spec.egress
  t.same(moreEgress, [], 'nothing else leaves the pod')
  t.same(dns.ports, [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }])
  t.same(dns.to, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], 'DNS: the cluster resolver only')
  t.same(cic.ports, [{ port: 443, protocol: 'TCP' }], 'CIC: HTTPS only')
  t.equal(cic.to.length, 1)
  t.equal(cic.to[0].ipBlock.cidr, '0.0.0.0/0')
  t.ok(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16'].every((r) => cic.to[0].ipBlock.except.includes(r)), 'not to private ranges nor the metadata address')

  const narrowed = await render({ set: { 'networkPolicy.enabled': 'true', 'networkPolicy.egress.cic.cidrs[0]': '203.0.113.0/24', 'networkPolicy.egress.cic.except': 'null' } })
  t.same(find(narrowed, 'NetworkPolicy')!.spec.egress[1].to, [{ ipBlock: { cidr: '203.0.113.0/24' } }], 'CIC ranges can be narrowed')
})

/** helm template that must fail; returns its error output. */
async function refused (set: Record<string, string>): Promise<{ code: number, stderr: string }> {
  const result = await helmTemplate(tool('helm'), { set })
  return { code: result.code, stderr: result.stderr }
}

const envOf = (manifests: Manifest[]): Record<string, string> => find(manifests, 'ConfigMap')!.data!

t.test('replicas: one pod and no HPA without Redis; several only with redis.url or an explicit acknowledgement', { skip }, async (t) => {
  const base = await render({})
  t.equal(deployment(base).spec.replicas, 1, 'default: one pod')
  t.equal(find(base, 'HorizontalPodAutoscaler'), undefined, 'default: no HPA')
  t.notOk(Object.keys(envOf(base)).some((k) => k.startsWith('REDIS_')), 'default: no REDIS_* variable, the store is in memory')

  const shared = await render({ set: { 'redis.url': 'redis://redis.data.svc:6379/0' } })
  t.equal(deployment(shared).spec.replicas, 2, 'redis.url alone: two pods (a drain never leaves none)')
  t.equal(envOf(shared).REDIS_URL, 'redis://redis.data.svc:6379/0')
  t.equal(envOf(shared).REDIS_KEY_PREFIX, 'cic-gateway:', 'the default key prefix')

  const three = await render({ set: { 'redis.url': 'redis://redis.data.svc:6379/0', replicaCount: '3', 'redis.keyPrefix': 'team-a:' } })
  t.equal(deployment(three).spec.replicas, 3, 'redis.url with replicaCount=3: three pods')
  t.equal(envOf(three).REDIS_KEY_PREFIX, 'team-a:')
  const scaled = await render({ set: { 'redis.url': 'redis://redis.data.svc:6379/0', 'autoscaling.enabled': 'true' } })
  t.ok(find(scaled, 'HorizontalPodAutoscaler'), 'redis.url with autoscaling: an HPA')

  for (const set of [{ replicaCount: '2' }, { replicaCount: '3' }]) {
    const result = await refused(set)
    t.not(result.code, 0, `refused without Redis: ${JSON.stringify(set)}`)
    t.match(result.stderr, new RegExp(`replicaCount=${set.replicaCount} needs redis\\.url`), 'the message names redis.url')
    t.match(result.stderr, /uploads the document to CIC again/, 'and says what would go wrong')
    t.match(result.stderr, /redis\.perReplicaKeysAcknowledged=true/, 'and how to accept it anyway')
  }
  const hpa = await refused({ 'autoscaling.enabled': 'true' })
  t.not(hpa.code, 0, 'autoscaling without Redis is refused')
  t.match(hpa.stderr, /autoscaling\.enabled=true needs redis\.url/)
  t.not((await refused({ replicaCount: '1', 'autoscaling.enabled': 'true' })).code, 0, 'even with replicaCount=1')

  const acknowledged = await render({ set: { replicaCount: '3', 'redis.perReplicaKeysAcknowledged': 'true' } })
  t.equal(deployment(acknowledged).spec.replicas, 3, 'acknowledged: three pods with per-pod keys')
  t.notOk(envOf(acknowledged).REDIS_URL)
  const acknowledgedHpa = await render({ set: { 'autoscaling.enabled': 'true', 'redis.perReplicaKeysAcknowledged': 'true' } })
  t.ok(find(acknowledgedHpa, 'HorizontalPodAutoscaler'), 'acknowledged: autoscaling renders')
})

t.test('redis.existingSecret: the password is a mounted file (REDIS_PASSWORD_FILE), never an environment value', { skip }, async (t) => {
  const manifests = await render({ set: { 'redis.url': 'rediss://cic-gateway@redis.data.svc:6380/0', 'redis.existingSecret': 'redis-credentials', 'redis.existingSecretKey': 'redis-password' } })
  const env = envOf(manifests)
  const pod = deployment(manifests).spec.template.spec
  const volume = pod.volumes.find((v: any) => v.secret?.secretName === 'redis-credentials')
  t.ok(volume, 'the Secret is a volume')
  t.same(volume.secret.items, [{ key: 'redis-password', path: 'password' }], 'only the password key is mounted')
  t.equal(volume.secret.defaultMode, 0o440)
  const mount = container(manifests).volumeMounts.find((m: any) => m.name === volume.name)
  t.equal(mount.readOnly, true)
  t.equal(env.REDIS_PASSWORD_FILE, `${mount.mountPath}/password`, 'REDIS_PASSWORD_FILE names the mounted file')
  t.equal(env.REDIS_PASSWORD, undefined, 'no REDIS_PASSWORD in the ConfigMap')
  const c = container(manifests)
  t.notOk((c.env ?? []).some((e: any) => /^REDIS_/.test(e.name)), 'no REDIS_* in the container env')
  t.notMatch(JSON.stringify(deployment(manifests)), /secretKeyRef/, 'no Secret read into the environment')
  t.equal(find(manifests, 'Secret'), undefined, 'the chart renders no Secret for it')
  t.equal(env.REDIS_URL, 'rediss://cic-gateway@redis.data.svc:6380/0', 'an ACL user name in the URL is fine')

  const withoutSecret = await render({ set: { 'redis.url': 'redis://redis:6379' } })
  t.equal(envOf(withoutSecret).REDIS_PASSWORD_FILE, undefined, 'no Secret, no password file')
  t.notOk(deployment(withoutSecret).spec.template.spec.volumes.some((v: any) => v.name === 'redis-password'))

  const inUrl = await refused({ 'redis.url': 'redis://:hunter2@redis:6379/0' })
  t.not(inUrl.code, 0, 'a password inside redis.url is refused')
  t.match(inUrl.stderr, /redis\.url must not carry a password.*redis\.existingSecret/)
  t.notMatch(inUrl.stderr, /hunter2/, 'and not echoed')
  const userAndPassword = await refused({ 'redis.url': 'redis://gw:hunter2@redis:6379/0' })
  t.not(userAndPassword.code, 0)
  const orphan = await refused({ 'redis.existingSecret': 'redis-credentials' })
  t.not(orphan.code, 0, 'a Redis Secret without redis.url is refused (it would be unused)')
  t.match(orphan.stderr, /redis\.existingSecret is set but redis\.url is not/)
})

t.test('Redis CA: from a ConfigMap, a Secret, inline or a path, always passed as REDIS_CA_FILE; TLS only', { skip }, async (t) => {
  const url = 'rediss://redis.data.svc:6380/0'
  const mountedFile = (manifests: Manifest[], file: string): { volume: any, mount: any } => {
    const mount = container(manifests).volumeMounts.find((m: any) => file.startsWith(`${m.mountPath}/`))
    const volume = deployment(manifests).spec.template.spec.volumes.find((v: any) => v.name === mount?.name)
    return { volume, mount }
  }
  const fromConfigMap = await render({ set: { 'redis.url': url, 'redis.caConfigMap': 'trust-bundle', 'redis.caKey': 'bundle.pem' } })
  const cmFile = envOf(fromConfigMap).REDIS_CA_FILE!
  const cm = mountedFile(fromConfigMap, cmFile)
  t.same(cm.volume.configMap, { name: 'trust-bundle', items: [{ key: 'bundle.pem', path: cmFile.split('/').at(-1) }] }, 'the ConfigMap key is the file REDIS_CA_FILE names')
  t.equal(cm.mount.readOnly, true)

  const fromSecret = await render({ set: { 'redis.url': url, 'redis.caSecret': 'redis-tls' } })
  const secretFile = envOf(fromSecret).REDIS_CA_FILE!
  const sec = mountedFile(fromSecret, secretFile)
  t.equal(sec.volume.secret.secretName, 'redis-tls')
  t.same(sec.volume.secret.items, [{ key: 'ca.crt', path: secretFile.split('/').at(-1) }], 'default key ca.crt (cert-manager)')

  const inline = await render({ set: { 'redis.url': url, 'redis.caBundle': '-----BEGIN CERTIFICATE-----' } })
  const inlineFile = envOf(inline).REDIS_CA_FILE!
  const files = find(inline, 'ConfigMap', '-files')!
  t.match(files.data![inlineFile.split('/').at(-1)!], /BEGIN CERTIFICATE/, 'inline PEM in the files ConfigMap')
  t.equal(mountedFile(inline, inlineFile).volume.configMap.name, files.metadata.name)

  const path = await render({ set: { 'redis.url': url, 'redis.caFile': '/etc/ssl/corporate/redis.pem' } })
  t.equal(envOf(path).REDIS_CA_FILE, '/etc/ssl/corporate/redis.pem', 'a path the pod already has, as is')

  const noTls = await refused({ 'redis.url': 'redis://redis:6379', 'redis.caSecret': 'redis-tls' })
  t.not(noTls.code, 0, 'a CA with redis:// is refused')
  t.match(noTls.stderr, /needs a rediss:\/\/ redis\.url/)
  const two = await refused({ 'redis.url': url, 'redis.caSecret': 'redis-tls', 'redis.caFile': '/x.pem' })
  t.not(two.code, 0, 'two CA sources are refused')
  t.match(two.stderr, /set only one of redis\.caBundle/)
})

t.test('NetworkPolicy: egress to Redis on the port of redis.url, to the configured peers', { skip }, async (t) => {
  const egress = async (set: Record<string, string>): Promise<any[]> =>
    find(await render({ set: { 'networkPolicy.enabled': 'true', ...set } }), 'NetworkPolicy')!.spec.egress
  t.equal((await egress({})).length, 2, 'without redis.url: DNS and CIC only')

  const [, , redis, ...more] = await egress({ 'redis.url': 'rediss://redis.data.svc:6380/0' })
  t.same(more, [])
  t.same(redis.ports, [{ port: 6380, protocol: 'TCP' }], 'the port of redis.url')
  t.equal(redis.to, undefined, 'no peers configured: any address, on that port only')

  const [, , defaultPort] = await egress({ 'redis.url': 'redis://redis' })
  t.same(defaultPort.ports, [{ port: 6379, protocol: 'TCP' }], '6379 when the URL names no port')
  const [, , overridden] = await egress({ 'redis.url': 'redis://redis', 'networkPolicy.egress.redis.port': '16379' })
  t.same(overridden.ports, [{ port: 16379, protocol: 'TCP' }], 'networkPolicy.egress.redis.port overrides it')

  const [, , selected] = await egress({
    'redis.url': 'redis://redis.data.svc:6379',
    'networkPolicy.egress.redis.namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name': 'data',
    'networkPolicy.egress.redis.podSelector.matchLabels.app\\.kubernetes\\.io/name': 'redis',
    'networkPolicy.egress.redis.cidrs[0]': '10.20.0.0/24'
  })
  t.same(selected.to, [
    { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'data' } }, podSelector: { matchLabels: { 'app.kubernetes.io/name': 'redis' } } },
    { ipBlock: { cidr: '10.20.0.0/24' } }
  ], 'the Redis pods (namespace and pod labels together), or the given addresses')
  const [, , podsOnly] = await egress({ 'redis.url': 'redis://redis:6379', 'networkPolicy.egress.redis.podSelector.matchLabels.app': 'redis' })
  t.same(podsOnly.to, [{ podSelector: { matchLabels: { app: 'redis' } } }], 'pods of the release namespace')

  const allOn = find(await render({ valuesFiles: [allOnValues] }), 'NetworkPolicy')!.spec.egress
  t.ok(allOn.some((r: any) => r.ports?.[0]?.port === 6380 && r.to?.length === 2), 'ci/all-on-values.yaml: the Redis rule, with its peers')
})

t.test("the chart README's Redis install renders as written", { skip }, async (t) => {
  const readme = await readFile(join(chartDir, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Replicas and Redis'), readme.indexOf('## Shutdown'))
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!.replace(/\\\n\s*/g, ' ')
  const command = block.split('\n').find((l) => l.startsWith('helm template '))!
  const args = command.split(/\s+/).slice(1)
  const result = await run(tool('helm'), [...args, '--kube-version', '1.37.0'], { cwd: join(chartDir, '..', '..') })
  t.equal(result.code, 0, result.stderr)
  const manifests = parseManifests(result.stdout)
  t.equal(deployment(manifests).spec.replicas, 3)
  const secretName = /create secret generic (\S+)/.exec(block)![1]
  t.ok(deployment(manifests).spec.template.spec.volumes.some((v: any) => v.secret?.secretName === secretName), 'the documented Secret is mounted')
  t.match(block, /--from-file=password=/, 'with the key the chart reads by default')
})

t.test('values.schema.json rejects unknown and mistyped values', { skip }, async (t) => {
  const refused: Array<Record<string, string>> = [{ replicaCont: '2' }, { 'podDisruptionBudget.enable': 'true' }, { 'service.type': 'NodePort' }, { 'gateway.logLevel': 'verbose' }, { 'cic.baseUrl': 'ftp://x' }, { 'cic.baseUrl': 'http://acme.cleointegration.com' }, { 'redis.url': 'http://redis:6379' }, { 'redis.url': 'redis://redis:6379/cache' }, { 'redis.keyPrefix': '' }, { 'redis.perReplicaKeysAcknowledged': 'maybe' }, { 'redis.existingSecretKey': 'a/b' }]
  for (const set of refused) {
    const result = await helmTemplate(tool('helm'), { set })
    t.not(result.code, 0, `refused: ${JSON.stringify(set)}`)
    t.match(result.stderr, /schema/)
  }
  t.match(JSON.parse(await readFile(join(chartDir, 'values.schema.json'), 'utf8')), { additionalProperties: false })
})

t.test('NOTES.txt renders, with the Service URL and warnings for missing credentials', { skip }, async (t) => {
  // helm template does not render NOTES.txt (and helm install needs a cluster): render it
  // through a copy of the chart where it is included into a ConfigMap.
  const dir = await mkdtemp(join(tmpdir(), 'cic-gateway-notes-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const chart = join(dir, 'cic-gateway')
  await cp(chartDir, chart, { recursive: true })
  const notes = await readFile(join(chart, 'templates', 'NOTES.txt'), 'utf8')
  await writeFile(join(chart, 'templates', '_notes_test.tpl'), `{{- define "notes-test" -}}\n${notes}\n{{- end }}\n`)
  await writeFile(join(chart, 'templates', 'notes-test.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "notes-test" . | toJson }}\n')
  const renderNotes = async (args: string[]): Promise<string> => {
    const result = await run(tool('helm'), ['template', 'gw', chart, '--namespace', 'integrations', '--show-only', 'templates/notes-test.yaml', ...args])
    t.equal(result.code, 0, result.stderr)
    return parseManifests(result.stdout)[0]!.data!.notes!
  }
  const bare = await renderNotes([])
  t.match(bare, 'http://gw-cic-gateway.integrations.svc:80/documents')
  t.match(bare, 'terminationGracePeriodSeconds=320')
  t.match(bare, /WARNING: neither cic.baseUrl nor config is set/)
  t.match(bare, /WARNING: caller auth is on but no API keys/)
  const configured = await renderNotes(['--set', 'existingSecret=creds', '--set', 'cic.baseUrl=https://acme.cleointegration.com', '--set', 'cic.username=u'])
  t.notMatch(configured, /WARNING/)
  t.match(configured, 'kubectl -n integrations rollout restart deployment/gw-cic-gateway')
  t.match(bare, /One pod, Idempotency-Key records in its memory\. For more pods .* set redis\.url/)
  const shared = await renderNotes(['--set', 'redis.url=redis://redis.data.svc:6379/0', '--set', 'replicaCount=3'])
  t.match(shared, /Idempotency-Key records and CIC tokens in Redis at redis\.data\.svc:6379/)
  t.match(shared, /appendonly yes and maxmemory-policy noeviction/)
  const perPod = await renderNotes(['--set', 'replicaCount=3', '--set', 'redis.perReplicaKeysAcknowledged=true'])
  t.match(perPod, /WARNING: several pods without redis\.url/)
})

t.test('the chart README documents every value', async (t) => {
  const values = parseYaml(await readFile(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>
  const readme = await readFile(join(chartDir, 'README.md'), 'utf8')
  const documented = new Set([...readme.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]))
  const paths: string[] = []
  const walk = (node: unknown, prefix: string): void => {
    const isMap = node !== null && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).length > 0
    // Maps handed to Kubernetes verbatim are documented as one value.
    const verbatim = ['podSecurityContext', 'securityContext', 'resources', 'livenessProbe', 'readinessProbe', 'startupProbe', 'autoscaling.behavior', 'affinity']
    if (!isMap || verbatim.includes(prefix) || /Selector$/.test(prefix)) {
      paths.push(prefix)
      return
    }
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) walk(value, prefix === '' ? key : `${prefix}.${key}`)
  }
  walk(values, '')
  for (const path of paths) t.ok(documented.has(path), `README documents ${path}`)
  for (const name of ['podDisruptionBudget.enabled', 'autoscaling.enabled', 'networkPolicy.enabled', 'serviceMonitor.enabled', 'existingSecret']) {
    t.ok(documented.has(name), `README documents ${name}`)
  }
})

// ---- Store and forward (issue 14): the outbox volume, the StatefulSet, the PrometheusRule ----

const outboxValues = join(chartDir, 'ci', 'outbox-values.yaml')

function statefulSet (manifests: Manifest[]): any {
  const s = find(manifests, 'StatefulSet')
  if (s === undefined) throw new Error('no StatefulSet rendered')
  return s
}

t.test('outbox.enabled: a StatefulSet with one outbox volume per pod instead of the Deployment', { skip }, async (t) => {
  const base = await render({})
  t.ok(find(base, 'Deployment'), 'default: a Deployment')
  t.equal(find(base, 'StatefulSet'), undefined, 'default: no StatefulSet')
  t.notOk(Object.keys(envOf(base)).some((k) => k.startsWith('OUTBOX_')), 'default: no OUTBOX_* variable (Prefer: respond-async is ignored)')

  const manifests = await render({ set: { 'outbox.enabled': 'true', 'outbox.size': '20Gi', 'outbox.storageClass': 'fast-ssd' } })
  t.equal(find(manifests, 'Deployment'), undefined, 'no Deployment with the outbox')
  const sts = statefulSet(manifests)
  t.equal(sts.spec.serviceName, find(manifests, 'Service')!.metadata.name, 'governed by the chart\'s Service')
  t.same(sts.spec.selector.matchLabels, deployment(base).spec.selector.matchLabels, 'the same pods as the Deployment would select')
  t.same(sts.spec.persistentVolumeClaimRetentionPolicy, { whenScaled: 'Retain', whenDeleted: 'Retain' }, 'queued documents outlive a scale-down and an uninstall')
  t.equal(sts.spec.replicas, 1)
  const [claim, ...moreClaims] = sts.spec.volumeClaimTemplates
  t.same(moreClaims, [])
  t.equal(claim.metadata.name, 'outbox')
  t.same(claim.spec.accessModes, ['ReadWriteOnce'], 'each pod owns its volume')
  t.equal(claim.spec.resources.requests.storage, '20Gi', 'outbox.size')
  t.equal(claim.spec.storageClassName, 'fast-ssd', 'outbox.storageClass')
  t.equal(statefulSet(await render({ set: { 'outbox.enabled': 'true' } })).spec.volumeClaimTemplates[0].spec.storageClassName, undefined, 'no storageClass: the cluster default')

  const c = sts.spec.template.spec.containers[0]
  const env = envOf(manifests)
  const mount = c.volumeMounts.find((m: any) => m.name === 'outbox')
  t.equal(mount.mountPath, '/var/lib/cic-gateway/outbox')
  t.equal(env.OUTBOX_DIR, mount.mountPath, 'OUTBOX_DIR is the mounted volume')
  t.equal(env.OUTBOX_MAX_BYTES, '8589934592')
  t.equal(env.OUTBOX_MAX_AGE_SECONDS, undefined, 'null keeps the gateway default')
  t.notOk(sts.spec.template.spec.volumes.some((v: any) => v.name === 'outbox'), 'the volume comes from the claim template, not an emptyDir')
  const writable = c.volumeMounts.filter((m: any) => m.readOnly !== true).map((m: any) => m.mountPath).sort()
  t.same(writable, ['/tmp', '/var/lib/cic-gateway/outbox'], 'writable: the spool and the outbox, nothing else')

  const all = await render({ valuesFiles: [outboxValues] })
  const allEnv = envOf(all)
  t.same([allEnv.OUTBOX_MAX_BYTES, allEnv.OUTBOX_MAX_AGE_SECONDS, allEnv.OUTBOX_CONCURRENCY], ['17179869184', '259200', '4'])
  t.same(find(all, 'HorizontalPodAutoscaler')!.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'StatefulSet', name: statefulSet(all).metadata.name }, 'the HPA scales the StatefulSet')
  t.equal(statefulSet(all).spec.replicas, undefined, 'with autoscaling, replicas are left to the HPA')
  t.same(find(all, 'PodDisruptionBudget')!.spec.selector.matchLabels, statefulSet(all).spec.selector.matchLabels, 'the PDB covers the StatefulSet\'s pods')
})

t.test('the StatefulSet\'s pods keep the restricted security context, the probes and the graceful shutdown', { skip }, async (t) => {
  for (const options of [{ set: { 'outbox.enabled': 'true' } }, { valuesFiles: [outboxValues] }] as RenderOptions[]) {
    const manifests = await render(options)
    const pod = statefulSet(manifests).spec.template.spec
    const c = pod.containers[0]
    t.equal(pod.securityContext.runAsNonRoot, true)
    t.equal(pod.securityContext.fsGroup, 1000, 'fsGroup: the volume is writable by the image\'s user')
    t.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault')
    t.equal(c.securityContext.readOnlyRootFilesystem, true, 'read-only root filesystem')
    t.equal(c.securityContext.allowPrivilegeEscalation, false)
    t.same(c.securityContext.capabilities, { drop: ['ALL'] })
    t.equal(c.securityContext.runAsNonRoot, true)
    for (const v of pod.volumes) t.notOk(v.hostPath, `no hostPath volume (${v.name})`)
    t.equal(c.livenessProbe.httpGet.path, '/livez')
    t.equal(c.readinessProbe.httpGet.path, '/readyz')
    t.equal(pod.terminationGracePeriodSeconds, 5 + 5 + 300 + 10, 'SIGTERM: uploads in progress finish, the rest stays on the volume')
  }
})

t.test('outbox manifests are valid against the Kubernetes API schemas; helm lint passes', { skip }, async (t) => {
  for (const [name, options] of Object.entries({ 'outbox.enabled': { set: { 'outbox.enabled': 'true', 'prometheusRule.enabled': 'true' } }, 'ci/outbox-values.yaml': { valuesFiles: [outboxValues] } }) as Array<[string, RenderOptions]>) {
    for (const kubeVersion of kubeVersions) {
      const rendered = await helmTemplate(tool('helm'), { ...options, kubeVersion })
      t.equal(rendered.code, 0, `${name} renders for ${kubeVersion}: ${rendered.stderr}`)
      t.ok(find(rendered.manifests, 'StatefulSet') && find(rendered.manifests, 'PrometheusRule'), `${name}: a StatefulSet and a PrometheusRule`)
      const result = await kubeconform(tool('kubeconform'), rendered.yaml, kubeVersion)
      const report = JSON.parse(result.stdout) as { summary: { valid: number, invalid: number, errors: number, skipped: number } }
      t.same(report.summary, { valid: rendered.manifests.length, invalid: 0, errors: 0, skipped: 0 }, `${name} on ${kubeVersion}: all ${rendered.manifests.length} resources valid, none skipped`)
    }
  }
  const lint = await run(tool('helm'), ['lint', '--strict', chartDir, '--values', outboxValues])
  t.equal(lint.code, 0, lint.stdout + lint.stderr)

  // Negative control: the PrometheusRule schema catches a misspelt field and a bad duration.
  const manifests = await render({ valuesFiles: [outboxValues] })
  const rule = find(manifests, 'PrometheusRule')!
  rule.spec.groups[1].rules[0].fore = '10m'
  statefulSet(manifests).spec.volumeClaimTemplate = statefulSet(manifests).spec.volumeClaimTemplates
  const bad = await kubeconform(tool('kubeconform'), manifests.map((m) => JSON.stringify(m)).join('\n---\n'), '1.37.0')
  const report = JSON.parse(bad.stdout) as { resources: Array<{ kind: string }> }
  t.same(report.resources.map((r) => r.kind).sort(), ['PrometheusRule', 'StatefulSet'], 'a misspelt rule field and claim-template field are refused')
})

t.test('outbox.maxBytes larger than the volume is refused; the values schema checks the outbox values', { skip }, async (t) => {
  const tooBig = await refused({ 'outbox.enabled': 'true', 'outbox.size': '4Gi', 'outbox.maxBytes': String(5 * 1024 ** 3) })
  t.not(tooBig.code, 0)
  t.match(tooBig.stderr, /outbox\.maxBytes \(5368709120\) is larger than the volume, outbox\.size \(4Gi\)/)
  t.equal((await helmTemplate(tool('helm'), { set: { 'outbox.enabled': 'true', 'outbox.size': '4Gi', 'outbox.maxBytes': String(3 * 1024 ** 3) } })).code, 0, 'one that fits renders')
  const invalid: Array<Record<string, string>> = [{ 'outbox.enable': 'true' }, { 'outbox.size': 'big' }, { 'outbox.mountPath': 'relative' }, { 'outbox.mountPath': '/tmp/outbox' }, { 'outbox.concurrency': '0' }, { 'prometheusRule.for': 'ten' }, { 'prometheusRule.oldestQueuedSeconds': '-1' }]
  for (const set of invalid) {
    const result = await helmTemplate(tool('helm'), { set })
    t.not(result.code, 0, `refused: ${JSON.stringify(set)}`)
  }
})

t.test('PrometheusRule: off by default; alerts on the oldest queued age, a nearly full outbox and failed deliveries, in PromQL that names exported metrics', { skip }, async (t) => {
  const exported = new Set(parsePrometheus(await new Metrics({ mailboxes: ['default'], outbox: true }).render()).types.keys())
  t.ok(exported.has('cic_gateway_outbox_oldest_queued_seconds') && exported.has('cic_gateway_outbox_failed_total'), 'the outbox metrics are read from a real Metrics registry')

  t.equal(find(await render({}), 'PrometheusRule'), undefined, 'off by default')
  const manifests = await render({ set: { 'outbox.enabled': 'true', 'prometheusRule.enabled': 'true', 'prometheusRule.labels.release': 'prometheus' } })
  const rule = find(manifests, 'PrometheusRule')!
  t.equal(rule.apiVersion, 'monitoring.coreos.com/v1')
  t.equal(rule.metadata.labels?.release, 'prometheus')
  const rules = rule.spec.groups.flatMap((g: any) => g.rules) as Array<{ alert: string, expr: string, for?: string, labels: Record<string, string> }>
  const byName = new Map(rules.map((r) => [r.alert, r]))
  const backlog = byName.get('CicGatewayOutboxBacklog')!
  t.match(backlog.expr, /cic_gateway_outbox_oldest_queued_seconds\{namespace="integrations", job="gw-cic-gateway"\}\) > 1800$/, 'the oldest queued document older than the threshold, this release only')
  t.equal(backlog.for, '10m')
  const full = byName.get('CicGatewayOutboxNearlyFull')!
  t.match(full.expr, /cic_gateway_outbox_stored_bytes\{namespace="integrations", job="gw-cic-gateway"\} \/ cic_gateway_outbox_capacity_bytes\{namespace="integrations", job="gw-cic-gateway"\}\) > 0\.8$/, 'the outbox past 80 % of OUTBOX_MAX_BYTES, this release only')
  t.equal(full.for, '10m')
  const failed = byName.get('CicGatewayOutboxDeliveriesFailed')!
  t.match(failed.expr, /increase\(cic_gateway_outbox_failed_total\{[^}]*\}\[15m\]\)\) > 0/, 'any new failed delivery')
  t.ok(byName.has('CicGatewayDeliveryOutcomeUnknown'))
  for (const r of rules) {
    const names: string[] = []
    const errors: string[] = []
    promqlParser.parse(r.expr).iterate({
      enter: (node) => {
        if (node.type.isError) errors.push(`syntax error at ${node.from}`)
        if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') names.push(r.expr.slice(node.from, node.to))
      }
    })
    t.same(errors, [], `${r.alert}: parses as PromQL`)
    for (const name of names) t.ok(exported.has(name), `${r.alert}: ${name} is exported by the gateway`)
    t.equal(r.labels.severity, 'warning')
  }

  const tuned = find(await render({ valuesFiles: [outboxValues] }), 'PrometheusRule')!
  const tunedRules = tuned.spec.groups.flatMap((g: any) => g.rules) as Array<{ alert: string, expr: string, for?: string, labels: Record<string, string> }>
  const tunedBacklog = tunedRules.find((r) => r.alert === 'CicGatewayOutboxBacklog')!
  t.match(tunedBacklog.expr, /job="cic-gateway-outbox"\}\) > 900$/, 'threshold and selector follow the values')
  t.equal(tunedBacklog.for, '5m')
  t.match(tunedRules.find((r) => r.alert === 'CicGatewayOutboxDeliveriesFailed')!.expr, /\[30m\]/)
  t.match(tunedRules.find((r) => r.alert === 'CicGatewayOutboxNearlyFull')!.expr, /\) > 0\.9$/, 'the capacity ratio follows the values')
  t.equal(tunedBacklog.labels.severity, 'page')
  const custom = find(await render({ set: { 'outbox.enabled': 'true', 'prometheusRule.enabled': 'true', 'prometheusRule.selector': 'cluster="eu-1"\\, service="gw"' } }), 'PrometheusRule')!
  t.match(custom.spec.groups[1].rules[0].expr, /\{cluster="eu-1", service="gw"\}/, 'prometheusRule.selector replaces the default matchers')

  const noOutbox = find(await render({ set: { 'prometheusRule.enabled': 'true' } }), 'PrometheusRule')!
  t.same(noOutbox.spec.groups.map((g: any) => g.name), ['cic-gateway'], 'without the outbox, no outbox alerts')
})

t.test('the chart README\'s outbox install renders as written', { skip }, async (t) => {
  const readme = await readFile(join(chartDir, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Store and forward'), readme.indexOf('## Values'))
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!.replace(/\\\n\s*/g, ' ')
  const args = block.trim().split(/\s+/).slice(1)
  const result = await run(tool('helm'), [...args, '--kube-version', '1.37.0'], { cwd: join(chartDir, '..', '..') })
  t.equal(result.code, 0, result.stderr)
  const manifests = parseManifests(result.stdout)
  t.equal(statefulSet(manifests).spec.volumeClaimTemplates[0].spec.resources.requests.storage, '20Gi')
  t.ok(find(manifests, 'PrometheusRule'))
})
