// Renders what the Grafana dashboard shows, from a real run: two gateways (two mailboxes)
// in front of the CIC simulator, a bounded load on loopback with a slow phase, a CIC
// incident, a token revocation and a dozen refused uploads, one document in four sent with
// `Prefer: respond-async` into each gateway's outbox, /metrics scraped every second, and the dashboard's
// main panels computed from the scrapes the way Prometheus would (rate over a window,
// histogram_quantile over bucket deltas), drawn as an SVG.
//
//   npm run render-dashboard          # writes docs/dashboard.svg (and docs/dashboard.png with rsvg-convert)
//
// Everything runs on 127.0.0.1 and stops by itself after DURATION_S seconds.
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { loadConfig } from '../src/config/index.js'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../src/app.js'
import { createLogger } from '../src/observability/logger.js'
import { DEMO_PASSWORD, DEMO_USERNAME, startSimulator } from '../src/simulator/index.js'
import { parsePrometheus, type Scrape } from '../test/helpers/prometheus.js'

const DURATION_S = Number(process.env.DURATION_S ?? 90)
const WINDOW_S = 5
const OUT_DIR = fileURLToPath(new URL('../docs/', import.meta.url))

/** Phases of the run, in seconds from the start; also drawn as bands on every panel. */
const PHASES = [
  { from: 17, to: 18, label: '415 x12', color: '#ff9830' },
  { from: 25, to: 42, label: 'CIC slow', color: '#f2cc0c' },
  { from: 50, to: 66, label: 'CIC failing 30%', color: '#f2495c' },
  { from: 75, to: 76, label: 'tokens revoked', color: '#b877d9' }
]

// ---- a small seeded PRNG, so the picture is the same from run to run (load permitting) ----
let seed = 42
function random (): number {
  seed = (seed + 0x6d2b79f5) >>> 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Node { name: string, gateway: FastifyInstance, url: string }

async function startNode (name: string, simUrl: string, outboxDir: string): Promise<Node> {
  const config = loadConfig({ CIC_BASE_URL: simUrl, CIC_USERNAME: DEMO_USERNAME, CIC_PASSWORD: DEMO_PASSWORD, LOG_LEVEL: 'silent', MEMORY_BODY_BYTES: String(64 * 1024), OUTBOX_DIR: join(outboxDir, name) })
  // Each gateway relays to its own mailbox, as two pods of two deployments would.
  const mailboxes = config.mailboxes.map(m => ({ ...m, name }))
  const gateway = await buildApp({ ...config, mailboxes, defaultMailbox: name }, createLogger('silent'))
  const url = await gateway.listen({ host: '127.0.0.1', port: 0 })
  return { name, gateway, url }
}

async function post (url: string, i: number): Promise<void> {
  // Sizes from 1 KiB to 1 MiB, mostly small (log-uniform); one in ten sent chunked (spooled).
  const size = Math.round(1024 * Math.pow(1024, random()))
  const body = Buffer.alloc(size, 0x41 + (i % 26))
  const chunked = random() < 0.1
  // One in four into the outbox (202 once stored; delivered by the gateway, retried while CIC fails).
  const async = random() < 0.25
  try {
    const res = await request(`${url}/documents?filename=doc-${i}.edi`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', ...(async ? { prefer: 'respond-async' } : {}) },
      body: chunked ? Readable.from([body]) : body
    })
    await res.body.dump()
  } catch {}
}

async function worker (node: Node, thinkMs: number, until: number, counter: { n: number }): Promise<void> {
  while (Date.now() < until) {
    await post(node.url, counter.n++)
    await sleep(thinkMs * (0.5 + random()))
  }
}

async function main (): Promise<void> {
  const sim = await startSimulator({ host: '127.0.0.1', port: 0, keepBodies: false, tokenLifetimeSeconds: 30 })
  const outboxDir = await mkdtemp(join(tmpdir(), 'cic-gateway-dashboard-'))
  const nodes = [await startNode('acme-edi', sim.url, outboxDir), await startNode('globex-orders', sim.url, outboxDir)]
  const started = Date.now()
  const until = started + DURATION_S * 1000
  const scrapes: Array<{ t: number, node: string, scrape: Scrape }> = []
  const counter = { n: 0 }

  const scraper = (async () => {
    while (Date.now() < until) {
      const t = (Date.now() - started) / 1000
      for (const node of nodes) {
        const res = await request(`${node.url}/metrics`)
        scrapes.push({ t, node: node.name, scrape: parsePrometheus(await res.body.text()) })
      }
      await sleep(1000 - ((Date.now() - started) % 1000))
    }
  })()
  const director = (async () => {
    const at = async (s: number): Promise<void> => { await sleep(Math.max(0, started + s * 1000 - Date.now())) }
    await at(PHASES[0]!.from)
    // CIC refuses a dozen uploads (file type): 201s become 502 cic-rejected, outbox ones failed.
    sim.inject('upload', { status: 415, times: 12 })
    await at(PHASES[1]!.from)
    sim.clearFaults()
    sim.inject('upload', { delayMs: 350, times: 100_000 })
    await at(PHASES[1]!.to)
    sim.clearFaults()
    await at(PHASES[2]!.from)
    sim.setOption('randomFaults', { rate: 0.3, operations: ['upload'], seed: 7 })
    await at(PHASES[2]!.to)
    sim.setOption('randomFaults', undefined)
    await at(PHASES[3]!.from)
    sim.revokeAllTokens()
  })()
  await Promise.all([
    scraper,
    director,
    ...[0, 1, 2, 3].map(async () => await worker(nodes[0]!, 60, until, counter)),
    // The second mailbox starts a little later, so the two mailboxes' logins do not coincide.
    ...[0, 1].map(async () => { await sleep(7000); await worker(nodes[1]!, 120, until, counter) })
  ])
  for (const node of nodes) await node.gateway.close()
  await sim.close()
  await rm(outboxDir, { recursive: true, force: true })

  const svg = render(scrapes, nodes.map(n => n.name))
  await mkdir(OUT_DIR, { recursive: true })
  await writeFile(`${OUT_DIR}dashboard.svg`, svg)
  try {
    execFileSync('rsvg-convert', ['-o', `${OUT_DIR}dashboard.png`, `${OUT_DIR}dashboard.svg`])
  } catch {
    process.stderr.write('rsvg-convert not found (apt-get install librsvg2-bin): wrote only docs/dashboard.svg\n')
  }
  process.stdout.write(`${counter.n} documents posted, ${scrapes.length} scrapes: docs/dashboard.svg\n`)
}

// ---- PromQL-like evaluation over the scrapes -----------------------------------------------

type Series = Array<[number, number]>

function sum (s: Scrape, name: string, labels: Record<string, string>, pred?: (l: Record<string, string>) => boolean): number {
  return s.select(name, labels).filter(x => pred === undefined || pred(x.labels)).reduce((n, x) => n + x.value, 0)
}

/** rate(expr[WINDOW_S]) for one node: the increase between the scrape WINDOW_S ago and now, per second. */
function rateSeries (scrapes: Array<{ t: number, scrape: Scrape }>, value: (s: Scrape) => number): Series {
  const out: Series = []
  for (let i = WINDOW_S; i < scrapes.length; i++) {
    const a = scrapes[i - WINDOW_S]!
    const b = scrapes[i]!
    out.push([b.t, Math.max(0, value(b.scrape) - value(a.scrape)) / (b.t - a.t)])
  }
  return out
}

function gaugeSeries (scrapes: Array<{ t: number, scrape: Scrape }>, value: (s: Scrape) => number): Series {
  return scrapes.map(x => [x.t, value(x.scrape)])
}

/** histogram_quantile(q, sum by (le) (rate(bucket[WINDOW_S]))) across nodes, as Prometheus interpolates it. */
function quantileSeries (byNode: Array<Array<{ t: number, scrape: Scrape }>>, name: string, labels: Record<string, string>, q: number): Series {
  const out: Series = []
  const n = Math.min(...byNode.map(s => s.length))
  for (let i = WINDOW_S; i < n; i++) {
    const buckets = new Map<number, number>()
    for (const scrapes of byNode) {
      for (const [j, sign] of [[i, 1], [i - WINDOW_S, -1]] as const) {
        for (const s of scrapes[j]!.scrape.select(name, labels)) {
          const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le)
          buckets.set(le, (buckets.get(le) ?? 0) + sign * s.value)
        }
      }
    }
    const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0])
    const total = sorted.at(-1)?.[1] ?? 0
    if (total <= 0) continue
    const rank = q * total
    let prevLe = 0
    let prevCount = 0
    for (const [le, count] of sorted) {
      if (count >= rank) {
        const v = le === Infinity ? prevLe : prevLe + (le - prevLe) * (rank - prevCount) / Math.max(count - prevCount, 1e-9)
        out.push([scrapes0(byNode)[i]!.t, v])
        break
      }
      prevLe = le
      prevCount = count
    }
  }
  return out
}

function scrapes0 (byNode: Array<Array<{ t: number, scrape: Scrape }>>): Array<{ t: number }> {
  return byNode[0]!
}

// ---- SVG ---------------------------------------------------------------------------------------

const COLORS = ['#73bf69', '#5794f2', '#ff9830', '#f2495c', '#b877d9', '#fade2a']
const W = 1400
const PANEL_W = 680
const PANEL_H = 270
const GAP = 20

interface Line { name: string, points: Series, color?: string }

function render (all: Array<{ t: number, node: string, scrape: Scrape }>, mailboxes: string[]): string {
  const byNode = mailboxes.map(m => all.filter(s => s.node === m))
  const perMailbox = (f: (scrapes: Array<{ t: number, scrape: Scrape }>, mailbox: string) => Series): Line[] =>
    mailboxes.map((m, i) => ({ name: m, points: f(byNode[i]!, m) }))
  const documents = 'cic_gateway_documents_total'

  const panels: Array<{ title: string, unit: Unit, lines: Line[] }> = [
    {
      title: 'Delivery rate by mailbox (201s and from the outbox)',
      unit: 'rps',
      lines: perMailbox((s, m) => rateSeries(s, x => sum(x, documents, { mailbox: m, outcome: 'delivered' }) + sum(x, 'cic_gateway_outbox_delivered_total', { mailbox: m })))
    },
    {
      title: 'Error rate by mailbox (failed + unknown)',
      unit: 'percent',
      lines: perMailbox((s, m) => {
        const bad = rateSeries(s, x => sum(x, documents, { mailbox: m }, l => l.outcome === 'failed' || l.outcome === 'unknown'))
        const all = rateSeries(s, x => sum(x, documents, { mailbox: m }))
        return bad.map(([t, v], i) => [t, all[i]![1] > 0 ? v / all[i]![1] : 0])
      })
    },
    {
      title: 'Upload latency, delivered (p50 / p90 / p99)',
      unit: 'seconds',
      lines: [0.5, 0.9, 0.99].map(q => ({ name: `p${Math.round(q * 100)}`, points: quantileSeries(byNode, 'cic_gateway_upload_duration_seconds_bucket', { outcome: 'delivered' }, q) }))
    },
    {
      title: 'Bytes relayed / s',
      unit: 'bytes',
      lines: perMailbox((s, m) => rateSeries(s, x => sum(x, 'cic_gateway_delivered_bytes_total', { mailbox: m })))
    },
    {
      title: 'Not delivered by reason (all mailboxes)',
      unit: 'rps',
      lines: reasons(byNode)
    },
    {
      title: 'In-flight uploads',
      unit: 'short',
      lines: perMailbox((s, m) => gaugeSeries(s, x => sum(x, 'cic_gateway_uploads_in_flight', { mailbox: m })))
    },
    {
      title: `CIC logins (increase over ${WINDOW_S}s)`,
      unit: 'short',
      lines: perMailbox((s, m) => rateSeries(s, x => sum(x, 'cic_gateway_cic_logins_total', { mailbox: m, result: 'success' })).map(([t, v]) => [t, v * WINDOW_S]))
    },
    {
      title: 'Oldest queued document (outbox)',
      unit: 'seconds',
      lines: perMailbox(s => gaugeSeries(s, x => sum(x, 'cic_gateway_outbox_oldest_queued_seconds', {})))
    },
    {
      title: `Outbox deliveries failed (increase over ${WINDOW_S}s)`,
      unit: 'short',
      lines: perMailbox((s, m) => rateSeries(s, x => sum(x, 'cic_gateway_outbox_failed_total', { mailbox: m })).map(([t, v]) => [t, v * WINDOW_S]))
    },
    {
      title: 'CIC upload calls by status class',
      unit: 'rps',
      lines: ['2xx', '4xx', '5xx', 'error'].map(c => ({
        name: c,
        color: { '2xx': '#73bf69', '4xx': '#ff9830', '5xx': '#f2495c', error: '#b877d9' }[c],
        points: sumSeries(byNode.map(s => rateSeries(s, x => sum(x, 'cic_gateway_cic_request_duration_seconds_count', { operation: 'upload', status_class: c }))))
      }))
    }
  ]
  const rows = Math.ceil(panels.length / 2)
  const H = 70 + rows * (PANEL_H + GAP)
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#111217"/>`,
    `<text x="${GAP}" y="34" fill="#d8d9da" font-size="20" font-weight="bold">CIC gateway</text>`,
    `<text x="${GAP + 150}" y="34" fill="#8e8e8e" font-size="13">a ${DURATION_S}s run against the CIC simulator: 2 gateways (mailboxes), /metrics scraped every 1s, rates over ${WINDOW_S}s</text>`
  ]
  panels.forEach((p, i) => {
    const x = GAP + (i % 2) * (PANEL_W + GAP)
    const y = 52 + Math.floor(i / 2) * (PANEL_H + GAP)
    parts.push(panel(x, y, p.title, p.unit, p.lines))
  })
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}

function reasons (byNode: Array<Array<{ t: number, scrape: Scrape }>>): Line[] {
  const codes = new Set<string>()
  for (const scrapes of byNode) {
    const last = scrapes.at(-1)?.scrape
    for (const s of last?.select('cic_gateway_documents_total') ?? []) {
      if (s.labels.outcome !== 'delivered' && s.labels.outcome !== 'accepted' && s.labels.outcome !== 'replayed' && s.value > 0) codes.add(`${s.labels.outcome} ${s.labels.code}`)
    }
  }
  return [...codes].sort().map(key => {
    const [outcome, code] = key.split(' ') as [string, string]
    return { name: key, points: sumSeries(byNode.map(s => rateSeries(s, x => sum(x, 'cic_gateway_documents_total', { outcome, code })))) }
  })
}

function sumSeries (list: Series[]): Series {
  const n = Math.min(...list.map(s => s.length))
  return Array.from({ length: n }, (_, i) => [list[0]![i]![0], list.reduce((acc, s) => acc + s[i]![1], 0)] as [number, number])
}

type Unit = 'rps' | 'percent' | 'seconds' | 'bytes' | 'short'

function format (v: number, unit: Unit): string {
  switch (unit) {
    case 'rps': return `${trim(v)}/s`
    case 'percent': return `${trim(v * 100)}%`
    case 'seconds': return v < 1 ? `${trim(v * 1000)} ms` : `${trim(v)} s`
    case 'bytes': {
      const units = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s']
      let i = 0
      while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
      return `${trim(v)} ${units[i]!}`
    }
    case 'short': return trim(v)
  }
}

function trim (v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1).replace(/\.0$/, '') : v.toFixed(2).replace(/\.?0+$/, '') || '0'
}

function niceMax (max: number, unit: Unit): number {
  if (unit === 'percent') return Math.max(0.04, Math.ceil(max / 0.04) * 0.04)
  if (unit === 'short' && max <= 4) return 4
  const base = unit === 'bytes' ? Math.pow(1024, Math.floor(Math.log(max) / Math.log(1024))) : 1
  const m = max / base
  const mag = Math.pow(10, Math.floor(Math.log10(m)))
  const step = [1, 2, 2.5, 5, 10].find(s => s * mag >= m / 4) ?? 10
  return Math.ceil(m / (step * mag)) * step * mag * base
}

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;')
}

function panel (x: number, y: number, title: string, unit: Unit, lines: Line[]): string {
  const left = x + 78
  const right = x + PANEL_W - 16
  const top = y + 40
  const bottom = y + PANEL_H - 62
  const max = niceMax(Math.max(0, ...lines.flatMap(l => l.points.map(p => p[1]))), unit)
  const sx = (t: number): number => left + (right - left) * t / DURATION_S
  const sy = (v: number): number => bottom - (bottom - top) * Math.min(v, max) / max
  const out = [
    '<g>',
    `<rect x="${x}" y="${y}" width="${PANEL_W}" height="${PANEL_H}" rx="3" fill="#181b1f" stroke="#2c3235"/>`,
    `<text x="${x + 12}" y="${y + 24}" fill="#d8d9da" font-size="14" font-weight="bold">${esc(title)}</text>`
  ]
  for (const p of PHASES) {
    out.push(`<rect x="${sx(p.from).toFixed(1)}" y="${top}" width="${Math.max(2, sx(p.to) - sx(p.from)).toFixed(1)}" height="${bottom - top}" fill="${p.color}" opacity="0.10"/>`)
    out.push(`<text x="${(sx(p.from) + 3).toFixed(1)}" y="${top + 11}" fill="${p.color}" font-size="10" opacity="0.9">${esc(p.label)}</text>`)
  }
  for (let i = 0; i <= 4; i++) {
    const v = max * i / 4
    const yy = sy(v)
    out.push(`<line x1="${left}" y1="${yy.toFixed(1)}" x2="${right}" y2="${yy.toFixed(1)}" stroke="#2c3235"/>`)
    out.push(`<text x="${left - 8}" y="${(yy + 4).toFixed(1)}" fill="#9fa7b3" font-size="11" text-anchor="end">${esc(format(v, unit))}</text>`)
  }
  for (let t = 0; t <= DURATION_S; t += 15) {
    out.push(`<text x="${sx(t).toFixed(1)}" y="${bottom + 16}" fill="#9fa7b3" font-size="11" text-anchor="middle">${t}s</text>`)
  }
  // Legend below the plot, wrapped onto a second row when it does not fit.
  let lx = x + 12
  let row = 0
  lines.forEach((l, i) => {
    const color = l.color ?? COLORS[i % COLORS.length]!
    if (l.points.length > 1) {
      const d = l.points.map(([t, v], j) => `${j === 0 ? 'M' : 'L'}${sx(t).toFixed(1)},${sy(v).toFixed(1)}`).join(' ')
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"/>`)
    }
    const width = 34 + l.name.length * 6.6
    if (lx + width > x + PANEL_W - 12 && lx > x + 12) { lx = x + 12; row++ }
    const ly = y + PANEL_H - 34 + row * 18
    out.push(`<rect x="${lx.toFixed(1)}" y="${ly - 4}" width="12" height="4" fill="${color}"/>`)
    out.push(`<text x="${(lx + 16).toFixed(1)}" y="${ly}" fill="#ccccdc" font-size="11">${esc(l.name)}</text>`)
    lx += width
  })
  out.push('</g>')
  return out.join('\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
