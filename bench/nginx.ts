// nginx as the native reference relay: proxy_request_buffering off (bodies stream to the
// upstream as they arrive), keep-alive upstream connections, the CIC token injected and
// /documents rewritten, one worker process (like the single-threaded Node relays), an
// access log line per request (like the gateway's delivery line). Used when `nginx` is
// on PATH (Debian: apt-get install nginx); otherwise the bench notes it and skips.
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { sleep } from './lib.js'

export interface Nginx {
  url: string
  /** The worker's pid (the process that relays), for memory readings. */
  workerPid: number | undefined
  version: string
  stop: () => Promise<void>
}

export function nginxBinary (): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/local/sbin'])) {
    const candidate = join(dir, 'nginx')
    if (dir !== '' && existsSync(candidate)) return candidate
  }
  return undefined
}

async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

export function nginxConfig (opts: { dir: string, port: number, upstream: string, uploadPath: string, token: string, user?: string }): string {
  const upstream = new URL(opts.upstream)
  return `${opts.user !== undefined ? `user ${opts.user};\n` : ''}worker_processes 1;
daemon off;
master_process on;
pid ${opts.dir}/nginx.pid;
error_log ${opts.dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${opts.dir}/access.log;
  client_body_temp_path ${opts.dir}/client_body;
  proxy_temp_path ${opts.dir}/proxy;
  fastcgi_temp_path ${opts.dir}/fastcgi;
  uwsgi_temp_path ${opts.dir}/uwsgi;
  scgi_temp_path ${opts.dir}/scgi;
  client_max_body_size 0;
  keepalive_requests 100000;
  upstream cic {
    server ${upstream.hostname}:${upstream.port};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${opts.port};
    location = /documents {
      proxy_pass http://cic${opts.uploadPath};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer ${opts.token}";
      proxy_request_buffering off;
      proxy_read_timeout 600s;
      proxy_send_timeout 600s;
    }
  }
}
`
}

export async function startNginx (opts: { dir: string, upstream: string, uploadPath: string, token: string }): Promise<Nginx | undefined> {
  const binary = nginxBinary()
  if (binary === undefined) return undefined
  mkdirSync(opts.dir, { recursive: true })
  const port = await freePort()
  const conf = join(opts.dir, 'nginx.conf')
  // As root, nginx's workers would switch to "nobody"; keep them as the current user.
  writeFileSync(conf, nginxConfig({ ...opts, port, user: process.getuid?.() === 0 ? 'root' : undefined }))
  const version = spawnSync(binary, ['-v'], { encoding: 'utf8' }).stderr.trim()
  const master = spawn(binary, ['-p', opts.dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  master.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = once(master, 'exit')
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    if (master.exitCode !== null) throw new Error(`nginx exited: ${stderr}`)
    try {
      await fetch(`${url}/`)
      break
    } catch {
      if (i > 100) throw new Error(`nginx did not start: ${stderr}`)
      await sleep(50)
    }
  }
  let workerPid: number | undefined
  try {
    const children = readFileSync(`/proc/${master.pid!}/task/${master.pid!}/children`, 'utf8').trim().split(/\s+/).map(Number)
    workerPid = children.find(n => n > 0)
  } catch {}
  return {
    url,
    workerPid,
    version,
    async stop () {
      if (master.exitCode !== null) return
      master.kill('SIGQUIT')
      const timer = setTimeout(() => master.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
  }
}
