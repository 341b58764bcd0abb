// ESLint with neostandard (the Fastify ecosystem's style: standard, for TypeScript).
import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'coverage/**', '.tap/**', 'node_modules/**', 'bench/.build/**', '.cache/**'] }),
  {
    rules: {
      // `void reply.header(...)`: a Fastify reply is thenable; void marks it as deliberately not awaited.
      'no-void': ['error', { allowAsStatement: true }]
    }
  }
]
