// Process plumbing for the benchmark: every party (upstream, proxy under test, load
// generator) runs as its own process; this module starts them, reads their memory from
// /proc, and stops them by pid.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { closeSync, openSync, readFileSync, realpathSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const BENCH = fileURLToPath(new URL('.', import.meta.url))

export interface Proc {
  name: string
  child: ChildProcess
  pid: number
  /** The first JSON line the process printed that satisfied the ready test. */
  ready: Record<string, unknown>
  /** Where its stdout went. */
  logFile: string
  stderr: () => string
  stop: () => Promise<void>
}

export interface StartOptions {
  name: string
  command: string
  args: string[]
  env?: Record<string, string>
  /** Where stdout goes; a new file in the temp directory by default. */
  logFile?: string
  isReady: (line: Record<string, unknown>) => boolean
  timeoutMs?: number
}

/**
 * The allocator setting of the image's runtime stage (Dockerfile), so the bench runs the
 * gateway with the environment it ships with.
 */
export function imageAllocatorEnv (): Record<string, string> {
  if (allocatorEnv === undefined) {
    const arenas = /MALLOC_ARENA_MAX=(\d+)/.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1]
    allocatorEnv = arenas === undefined ? {} : { MALLOC_ARENA_MAX: arenas }
  }
  return allocatorEnv
}

let allocatorEnv: Record<string, string> | undefined

let relaysBuilt = false

/**
 * The reference relays (bare-relay.ts, generic-proxy.ts) compiled to JavaScript and run by
 * plain node, like the gateway's dist/: no TypeScript loader thread in their memory figures.
 */
export function compiledNode (file: string): { command: string, args: string[] } {
  if (!relaysBuilt) {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.bench-relays.json')], { stdio: 'inherit' })
    relaysBuilt = true
  }
  return { command: process.execPath, args: [join(BENCH, '.build', file.replace(/\.ts$/, '.js'))] }
}

/** Node with TypeScript loading (tsx), for the bench's own processes. */
export function tsNode (file: string, nodeArgs: string[] = []): { command: string, args: string[] } {
  return { command: process.execPath, args: [...nodeArgs, '--import', 'tsx', `${BENCH}${file}`] }
}

/**
 * Starts a process that announces readiness with a JSON line on stdout. Its stdout goes
 * straight to a log file (the bench process never reads it under load); the file is
 * polled until the ready line appears.
 */
export async function start (opts: StartOptions): Promise<Proc> {
  const logFile = opts.logFile ?? join(tmpdir(), `cic-bench-${opts.name}-${process.pid}-${Date.now()}.log`)
  const fd = openSync(logFile, 'w')
  const child = spawn(opts.command, opts.args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...opts.env },
    stdio: ['ignore', fd, 'pipe']
  })
  closeSync(fd)
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 20_000) stderr += d.toString() })
  let exitCode: number | null | undefined
  const exited = once(child, 'exit').then(([code]) => { exitCode = code as number | null })
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000)
  let ready: Record<string, unknown> | undefined
  while (ready === undefined) {
    if (exitCode !== undefined) throw new Error(`${opts.name} exited with ${String(exitCode)}: ${stderr}`)
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`${opts.name} did not start in time: ${stderr}`) }
    await sleep(50)
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      let parsed: Record<string, unknown>
      try { parsed = JSON.parse(line) as Record<string, unknown> } catch { continue }
      if (opts.isReady(parsed)) { ready = parsed; break }
    }
  }
  const pid = child.pid!
  return {
    name: opts.name,
    child,
    pid,
    ready,
    logFile,
    stderr: () => stderr,
    async stop () {
      if (exitCode !== undefined) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
  }
}

export interface Memory {
  /** Current resident set, bytes. */
  rss: number
  /** Peak resident set since the process started (VmHWM), bytes. */
  hwm: number
}

/** VmRSS and VmHWM of a process, from /proc/<pid>/status (Linux). */
export function memory (pid: number): Memory | undefined {
  let status: string
  try { status = readFileSync(`/proc/${pid}/status`, 'utf8') } catch { return undefined }
  const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') }
}

/** Samples VmRSS every intervalMs until stopped; returns the highest sample and the final VmHWM. */
export function watchMemory (pid: number, intervalMs = 100): { stop: () => { maxRss: number, hwm: number } } {
  let maxRss = 0
  const sample = (): void => { const m = memory(pid); if (m !== undefined && m.rss > maxRss) maxRss = m.rss }
  sample()
  const timer = setInterval(sample, intervalMs)
  return {
    stop () {
      clearInterval(timer)
      sample()
      return { maxRss, hwm: memory(pid)?.hwm ?? NaN }
    }
  }
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

export async function getJson<T> (url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init)
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status}`)
  return await res.json() as T
}

/** Runs the load generator process with a job; resolves with the JSON it prints. */
export async function runLoad<T> (job: unknown, timeoutMs = 300_000): Promise<T> {
  const { command, args } = tsNode('load.ts')
  const child = spawn(command, [...args, JSON.stringify(job)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code] = await once(child, 'exit') as [number | null]
  clearTimeout(timer)
  if (code !== 0) throw new Error(`load generator failed (${String(code)}): ${err.slice(-2000)}`)
  return JSON.parse(out.trim().split('\n').pop()!) as T
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds (pid: number): number | undefined {
  let stat: string
  try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8') } catch { return undefined }
  // Fields after the command name (which may contain spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  return ticks / 100
}

/**
 * The file system a path lives on (its longest mount point in /proc/self/mountinfo): the
 * outbox's fsync costs nothing on tmpfs, so a figure measured there says nothing of a disk.
 */
export function filesystemOf (path: string): { type: string, source: string, mountPoint: string } | undefined {
  let mounts: string
  try { mounts = readFileSync('/proc/self/mountinfo', 'utf8') } catch { return undefined }
  const real = realpathSync(path)
  let best: { type: string, source: string, mountPoint: string } | undefined
  for (const line of mounts.split('\n')) {
    const [before, after] = line.split(' - ')
    if (before === undefined || after === undefined) continue
    const mountPoint = before.split(' ')[4]?.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    const [type, source] = after.split(' ')
    if (mountPoint === undefined || type === undefined || source === undefined) continue
    const inside = mountPoint === '/' || real === mountPoint || real.startsWith(`${mountPoint}/`)
    // The last of equally long mount points is the one on top.
    if (inside && (best === undefined || mountPoint.length >= best.mountPoint.length)) best = { type, source, mountPoint }
  }
  return best
}
