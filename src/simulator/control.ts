// The /_sim/ control API: drives a simulator running in another process (soak script, docker compose).
import { readBody } from './body.js'
import type { Exchange } from './exchange.js'
import { checkFault, checkSettings, isOperation, type SimulatorSettings } from './options.js'
import type { Simulator } from './handle.js'

const CONTROL_BODY_LIMIT = 64 * 1024
const OK = { status: 'ok' }

export async function control (sim: Simulator, ex: Exchange, path: string): Promise<void> {
  const method = ex.req.method ?? 'GET'
  const route = `${method} ${path}`
  switch (route) {
    case 'GET /_sim/health':
      return ex.json(200, OK)
    case 'GET /_sim/files':
      // Metadata only: bodies can be large and binary.
      return ex.json(200, { files: sim.files().map(({ data: _data, ...meta }) => meta) })
    case 'GET /_sim/calls':
      return ex.json(200, sim.calls)
    case 'GET /_sim/requests':
      return ex.json(200, { requests: sim.requests })
    case 'GET /_sim/faults':
      return ex.json(200, sim.pendingFaults())
    case 'GET /_sim/options':
      return ex.json(200, sim.settings)
    case 'DELETE /_sim/faults':
      sim.clearFaults()
      return ex.json(200, OK)
    case 'POST /_sim/revoke':
      sim.revokeAllTokens()
      return ex.json(200, OK)
    case 'POST /_sim/reset':
      sim.reset()
      return ex.json(200, OK)
    case 'POST /_sim/faults':
    case 'PUT /_sim/options': {
      const input = await readJson(ex)
      if (input === undefined) return
      try {
        if (route === 'POST /_sim/faults') {
          const { operation, ...fault } = input as Record<string, unknown>
          if (!isOperation(operation)) throw new TypeError('operation must be login, folders, children or upload')
          sim.inject(operation, checkFault(fault))
          return await ex.json(200, OK)
        }
        // null clears an optional setting (JSON has no undefined). Every mistake is named at once, and then nothing changes.
        const changes = checkSettings(input)
        for (const name of Object.keys(changes) as Array<keyof SimulatorSettings>) sim.setOption(name, changes[name])
        return await ex.json(200, sim.settings)
      } catch (error) {
        return ex.error(400, error instanceof Error ? error.message : String(error))
      }
    }
    default:
      return ex.reject(404, 'Not found')
  }
}

/** The JSON object in the request body; undefined once an error answer was sent. */
async function readJson (ex: Exchange): Promise<object | undefined> {
  const body = await readBody(ex.req, { limit: CONTROL_BODY_LIMIT, keep: true, hash: false })
  if (body.kind === 'too-large') {
    await ex.error(413, 'Request body too large', { close: true })
    return undefined
  }
  if (body.kind !== 'complete') {
    ex.drop()
    return undefined
  }
  try {
    const value: unknown = JSON.parse(body.body!.toString('utf8'))
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value
  } catch {
    // answered below
  }
  await ex.error(400, 'Body must be a JSON object')
  return undefined
}
