// Locates the tools .ci/install-tools.sh installs. A missing tool fails the test in CI
// (CI must have it) and skips it elsewhere, with the command that installs it.
import { execFile, type ExecFileOptions } from 'node:child_process'
import { accessSync, constants, existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { delimiter, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { skipRecorder } from '../../helpers/skip-report.js'

export const repoRoot = resolve(fileURLToPath(new URL('../../..', import.meta.url)))
export const chartDir = join(repoRoot, 'helm', 'cic-gateway')
export const toolsDir = process.env.CIC_TOOLS_DIR ?? join(homedir(), '.cache', 'cic-gateway-tools')
/** Kubernetes versions the manifests are validated against (see .ci/install-tools.sh). */
export const kubeVersions = ['1.29.0', '1.37.0'] as const

export type ToolName = 'helm' | 'kubeconform' | 'kubernetes-schemas' | 'hadolint' | 'check-jsonschema'

function executable (path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export function findTool (name: ToolName): string | undefined {
  if (name === 'kubernetes-schemas') {
    // The offline Kubernetes JSON schemas kubeconform reads (one folder per version).
    const dir = join(toolsDir, 'kubernetes-json-schema')
    return kubeVersions.every((v) => existsSync(join(dir, `v${v}-local-strict`, '.done'))) ? dir : undefined
  }
  const candidates = [join(toolsDir, 'bin', name), ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, name))]
  return candidates.find(executable)
}

interface TestLike {
  fail: (message: string) => unknown
  /** tap's parser of `t`: its results name the tests skipped for the missing tools. */
  parser?: { on: (event: 'assert', listener: (result: { name: string, skip: string | boolean }) => void) => unknown }
}

/**
 * For `t.test(name, { skip: missingTools(t, [...]) }, fn)`: false when every tool is there.
 * Otherwise the reason to skip, after failing `t` when CI is set (CI must have the tools).
 * Every test skipped with that reason is recorded; after the suite, tap's `after` hook
 * prints them all with the missing tools (test/helpers/skip-report.ts).
 */
export function missingTools (t: TestLike, names: ToolName[]): string | false {
  const missing = names.filter((name) => findTool(name) === undefined)
  if (missing.length === 0) return false
  const message = `${missing.join(', ')} not found in ${join(toolsDir, 'bin')} or on PATH: run .ci/install-tools.sh`
  if (process.env.CI) t.fail(message)
  const record = skipRecorder(relative(repoRoot, process.argv[1] ?? 'unknown test file'), missing, t.parser === undefined)
  const skipped: string[] = []
  t.parser?.on('assert', (result) => {
    if (result.skip === message) {
      skipped.push(result.name)
      record(skipped)
    }
  })
  return message
}

/** The tool's path; only call it where missingTools() said the tool is there. */
export function tool (name: ToolName): string {
  const path = findTool(name)
  if (path === undefined) throw new Error(`${name} not found: run .ci/install-tools.sh`)
  return path
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to completion; never throws on a non-zero exit. */
export function run (file: string, args: string[], options: ExecFileOptions & { input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', ...options }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') {
        reject(error)
        return
      }
      resolve({ code: error === null ? 0 : (error.code as number), stdout: String(stdout), stderr: String(stderr) })
    })
    if (options.input !== undefined) child.stdin?.end(options.input)
  })
}
