// helm template / kubeconform helpers shared by the chart tests.
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { chartDir, repoRoot, run, toolsDir, type RunResult } from './tools.js'

export interface Manifest {
  apiVersion: string
  kind: string
  metadata: { name: string, labels?: Record<string, string>, annotations?: Record<string, string> }
  spec?: any
  data?: Record<string, string>
  stringData?: Record<string, string>
  [key: string]: any
}

export interface Rendered extends RunResult {
  yaml: string
  manifests: Manifest[]
}

export interface RenderOptions {
  valuesFiles?: string[]
  set?: Record<string, string>
  kubeVersion?: string
  release?: string
  namespace?: string
}

export function templateArgs (options: RenderOptions = {}): string[] {
  const args = ['template', options.release ?? 'gw', chartDir, '--namespace', options.namespace ?? 'integrations']
  for (const file of options.valuesFiles ?? []) args.push('--values', file)
  for (const [key, value] of Object.entries(options.set ?? {})) args.push('--set', `${key}=${value}`)
  if (options.kubeVersion !== undefined) args.push('--kube-version', options.kubeVersion)
  return args
}

export function parseManifests (yaml: string): Manifest[] {
  return parseAllDocuments(yaml)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`invalid YAML rendered: ${doc.errors.map((e) => e.message).join('; ')}`)
      return doc.toJS() as Manifest | null
    })
    .filter((m): m is Manifest => m !== null)
}

export async function helmTemplate (helm: string, options: RenderOptions = {}): Promise<Rendered> {
  const result = await run(helm, templateArgs(options))
  return { ...result, yaml: result.stdout, manifests: result.code === 0 ? parseManifests(result.stdout) : [] }
}

export function find (manifests: Manifest[], kind: string, nameSuffix = ''): Manifest | undefined {
  return manifests.find((m) => m.kind === kind && m.metadata.name.endsWith(nameSuffix))
}

export function all (manifests: Manifest[], kind: string): Manifest[] {
  return manifests.filter((m) => m.kind === kind)
}

/** kubeconform -strict against the offline schemas (+ this repo's CRD schemas), on stdin. */
export function kubeconform (kubeconformPath: string, yaml: string, kubeVersion: string): Promise<RunResult> {
  const core = join(toolsDir, 'kubernetes-json-schema', '{{.NormalizedKubernetesVersion}}-local{{.StrictSuffix}}', '{{.ResourceKind}}{{.KindSuffix}}.json')
  const crds = join(repoRoot, 'test', 'deploy', 'schemas', '{{.ResourceKind}}{{.KindSuffix}}.json')
  return run(kubeconformPath, ['-strict', '-summary', '-output', 'json', '-kubernetes-version', kubeVersion, '-schema-location', core, '-schema-location', crds, '-'], { input: yaml })
}

export const allOnValues = join(chartDir, 'ci', 'all-on-values.yaml')
