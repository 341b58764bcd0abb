// Reads the Prometheus text format (what GET /metrics answers) into samples a test can look up.
import { send } from './http.js'

export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

export interface Scrape {
  samples: Sample[]
  /** `# TYPE` of each metric family: counter, gauge, histogram... */
  types: Map<string, string>
  /** The value of the one sample with exactly these labels, or undefined. */
  value: (name: string, labels?: Record<string, string>) => number | undefined
  /** Every sample of a name whose labels include these. */
  select: (name: string, labels?: Record<string, string>) => Sample[]
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

export function parsePrometheus (text: string): Scrape {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ')
      types.set(name!, type!)
      continue
    }
    if (line === '' || line.startsWith('#')) continue
    const m = SAMPLE.exec(line)
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_s, c: string) => c === 'n' ? '\n' : c)
    samples.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  const matches = (s: Sample, labels: Record<string, string>): boolean => Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  const select = (name: string, labels: Record<string, string> = {}): Sample[] => samples.filter(s => s.name === name && matches(s, labels))
  const value = (name: string, labels: Record<string, string> = {}): number | undefined => {
    const found = select(name, labels).filter(s => Object.keys(s.labels).length === Object.keys(labels).length)
    if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`)
    return found[0]?.value
  }
  return { samples, types, value, select }
}

export async function scrape (baseUrl: string): Promise<Scrape> {
  const res = await send(`${baseUrl}/metrics`, { method: 'GET' })
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${res.text}`)
  return parsePrometheus(res.text)
}
