// The error catalogue (src/http/problem-catalogue.ts) is the one list of what the gateway
// can answer: each code declared once, every code in /openapi.json and in the README.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { DECLARED, PROBLEM_TYPES } from '../src/http/problem-catalogue.js'
import { problemType } from '../src/http/problems.js'
import { send } from './helpers/http.js'
import { startStack } from './helpers/stack.js'

const codes = Object.keys(PROBLEM_TYPES)

t.test('no problem code is declared twice', async t => {
  const all = [...DECLARED.delivery, ...DECLARED.http]
  t.same(all.filter((c, i) => all.indexOf(c) !== i), [], 'in both the delivery outcomes and the HTTP refusals')
  t.equal(codes.length, all.length)
  for (const code of codes) {
    const { status, title } = PROBLEM_TYPES[code as keyof typeof PROBLEM_TYPES]
    t.ok(status >= 400 && status <= 599, `${code}: an error status`)
    t.ok(title.length > 0, `${code}: a title`)
  }
})

t.test('every problem type is in /openapi.json', async t => {
  const stack = await startStack(t)
  const spec = (await send(`${stack.url}/openapi.json`, { method: 'GET' })).text
  for (const code of codes) t.ok(spec.includes(`"${problemType(code)}"`), `${code} documented`)
})

t.test('every problem code is in the README\'s error table, with its status', async t => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const table = readme.slice(readme.indexOf('### Errors'), readme.indexOf('## Delivery guarantees'))
  const rows = table.split('\n').filter(l => l.startsWith('| '))
  for (const code of codes) {
    const row = rows.find(r => new RegExp(`\`${code}\``).test(r))
    t.ok(row, `${code} in the table`)
    if (row !== undefined) t.match(row, new RegExp(`^\\| ${PROBLEM_TYPES[code as keyof typeof PROBLEM_TYPES].status} `), `${code}: its row says ${PROBLEM_TYPES[code as keyof typeof PROBLEM_TYPES].status}`)
  }
})
