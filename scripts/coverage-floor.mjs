// After `npm test`: the suite's coverage (tap's json-summary) must not fall below the floor
// in package.json ("coverageFloor", set from a measured run: raise it as tests grow, never lower it).
import { readFileSync } from 'node:fs'

const floor = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).coverageFloor
const { total } = JSON.parse(readFileSync(new URL('../.tap/report/coverage-summary.json', import.meta.url), 'utf8'))
const low = Object.entries(floor).filter(([kind, min]) => total[kind].pct < min)
for (const [kind, min] of Object.entries(floor)) process.stdout.write(`# coverage ${kind}: ${total[kind].pct}% (floor ${min}%)\n`)
if (low.length > 0) {
  process.stderr.write(`coverage below the floor: ${low.map(([kind, min]) => `${kind} ${total[kind].pct}% < ${min}%`).join(', ')}\n`)
  process.exit(1)
}
