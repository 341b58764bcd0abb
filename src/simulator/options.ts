// Public types and option handling of the CIC simulator.

export type Operation = 'login' | 'folders' | 'children' | 'upload'
export const OPERATIONS: readonly Operation[] = ['login', 'folders', 'children', 'upload']

/** The demo partner mailbox. The password holds every character that breaks naive form encoding. */
export const DEMO_USERNAME = 'demo'
export const DEMO_PASSWORD = 'Demo@Passw0rd&+%'

export interface SimulatorAccount {
  username: string
  password: string
  /** Extra folders `archive-0001`... listed before download/upload, to force clients to page. */
  extraChildren?: number
}

export type SameNamePolicy = 'overwrite' | 'reject' | 'rename'
export type ChunkedUploads = 'reject' | 'accept'

/**
 * One fault. Applies to the next `times` calls of an operation (queued faults are used in order).
 * - `drop: 'immediately'`: destroy the socket as soon as the request arrives.
 * - `status`: answer with that status (after reading any request body), skipping all normal processing.
 * - `delayMs`: wait before answering (for upload: after the body was read), or, with `stallBody`,
 *   stop reading the upload body for that long after its first chunk.
 * - `drop: 'mid-body'`: upload only: read about half the body, then destroy the socket; nothing is stored.
 *   For the other operations it behaves like `drop: 'immediately'`.
 * - `drop: 'after-store'`: process the call normally (store the file, issue the token), then destroy
 *   the socket instead of answering. Any drop fault means the call never gets a response, even when
 *   it fails for another reason first (e.g. 401).
 * - `truncate`: process normally, send the headers with the full Content-Length but only half the body,
 *   then destroy the socket.
 * - `headers` are added to whatever response is sent; `body` replaces the default `{"message":...}`
 *   of a `status` fault.
 */
export interface Fault {
  times?: number
  status?: number
  body?: string
  headers?: Record<string, string>
  delayMs?: number
  stallBody?: boolean
  drop?: 'immediately' | 'mid-body' | 'after-store'
  truncate?: boolean
}

export interface RandomFaults {
  /** Probability 0..1 that a call gets a fault. */
  rate: number
  /** Operations eligible for random faults; default all. */
  operations?: Operation[]
  /** Seed of the PRNG; without it the sequence is not reproducible. */
  seed?: number
}

/** Options that can also be changed while running (setOption, PUT /_sim/options). */
export interface SimulatorSettings {
  tokenLifetimeSeconds: number
  pageSize: number
  sameNamePolicy: SameNamePolicy
  maxFileBytes: number | undefined
  allowedExtensions: string[] | undefined
  chunkedUploads: ChunkedUploads
  keepBodies: boolean
  randomFaults: RandomFaults | undefined
  /**
   * One session per user: a login revokes the user's earlier tokens (they get 401 "Token has been
   * revoked"), as CIC might do (CIC-API.md lists it as unknown). While on, only the token of each
   * user's latest login is accepted, whether it was issued before the mode was turned on or after.
   */
  singleSession: boolean
}

export interface SimulatorOptions extends Partial<SimulatorSettings> {
  host?: string
  port?: number
  accounts?: SimulatorAccount[]
  /** Enables the `/_sim/` control API (default true). */
  controlApi?: boolean
}

export const DEFAULT_SETTINGS: Readonly<SimulatorSettings> = Object.freeze({
  tokenLifetimeSeconds: 3600,
  pageSize: 10,
  sameNamePolicy: 'overwrite',
  maxFileBytes: undefined,
  allowedExtensions: undefined,
  chunkedUploads: 'reject',
  keepBodies: true,
  randomFaults: undefined,
  singleSession: false
})

const SETTING_NAMES = Object.keys(DEFAULT_SETTINGS) as (keyof SimulatorSettings)[]

export function isSettingName (name: string): name is keyof SimulatorSettings {
  return (SETTING_NAMES as string[]).includes(name)
}

export function isOperation (value: unknown): value is Operation {
  return typeof value === 'string' && (OPERATIONS as string[]).includes(value)
}

function isPositiveInteger (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) > 0
}

function isNonNegativeInteger (value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

function optionError (name: string, expected: string): TypeError {
  return new TypeError(`simulator option ${name} must be ${expected}`)
}

/** Validates one setting; throws a TypeError naming the setting. Returns the normalised value. */
export function checkSetting<K extends keyof SimulatorSettings> (name: K, value: unknown): SimulatorSettings[K] {
  switch (name) {
    case 'tokenLifetimeSeconds':
    case 'pageSize':
      if (!isPositiveInteger(value)) throw optionError(name, 'a positive integer')
      break
    case 'sameNamePolicy':
      if (value !== 'overwrite' && value !== 'reject' && value !== 'rename') {
        throw optionError(name, "'overwrite', 'reject' or 'rename'")
      }
      break
    case 'maxFileBytes':
      if (value !== undefined && !isNonNegativeInteger(value)) throw optionError(name, 'a non-negative integer or undefined')
      break
    case 'allowedExtensions': {
      if (value === undefined) break
      if (!Array.isArray(value) || !value.every((e) => typeof e === 'string' && e.replace(/^\./, '') !== '')) {
        throw optionError(name, 'an array of extensions or undefined')
      }
      // Compared case-insensitively with a leading dot, like the mailbox setting.
      const normalised = (value as string[]).map((e) => (e.startsWith('.') ? e : `.${e}`).toLowerCase())
      return normalised as SimulatorSettings[K]
    }
    case 'chunkedUploads':
      if (value !== 'reject' && value !== 'accept') throw optionError(name, "'reject' or 'accept'")
      break
    case 'keepBodies':
    case 'singleSession':
      if (typeof value !== 'boolean') throw optionError(name, 'a boolean')
      break
    case 'randomFaults': {
      if (value === undefined) break
      if (typeof value !== 'object' || value === null) throw optionError(name, 'an object or undefined')
      const r = value as Partial<RandomFaults>
      if (typeof r.rate !== 'number' || !(r.rate >= 0 && r.rate <= 1)) throw optionError(name, '{ rate: 0..1 }')
      if (r.operations !== undefined && (!Array.isArray(r.operations) || !r.operations.every(isOperation))) {
        throw optionError(name, '{ operations: Operation[] }')
      }
      if (r.seed !== undefined && !Number.isSafeInteger(r.seed)) throw optionError(name, '{ seed: integer }')
      const copy: RandomFaults = { rate: r.rate }
      if (r.operations !== undefined) copy.operations = [...r.operations]
      if (r.seed !== undefined) copy.seed = r.seed
      return copy as SimulatorSettings[K]
    }
    default:
      throw new TypeError(`unknown simulator option ${String(name)}`)
  }
  return value as SimulatorSettings[K]
}

export function resolveSettings (options: SimulatorOptions): SimulatorSettings {
  const settings: SimulatorSettings = { ...DEFAULT_SETTINGS }
  for (const name of SETTING_NAMES) {
    if (options[name] !== undefined) Object.assign(settings, { [name]: checkSetting(name, options[name]) })
  }
  return settings
}

function faultError (field: string, expected: string): TypeError {
  return new TypeError(`fault.${field} must be ${expected}`)
}

/** Validates a fault (from code or from the control API) and returns a clean copy. */
export function checkFault (input: unknown): Fault {
  if (typeof input !== 'object' || input === null) throw new TypeError('fault must be an object')
  const f = input as Record<string, unknown>
  const fault: Fault = {}
  if (f.times !== undefined) {
    if (!isPositiveInteger(f.times)) throw faultError('times', 'a positive integer')
    fault.times = f.times
  }
  if (f.status !== undefined) {
    if (!Number.isInteger(f.status) || (f.status as number) < 200 || (f.status as number) > 599) {
      throw faultError('status', 'an HTTP status 200..599')
    }
    fault.status = f.status as number
  }
  if (f.body !== undefined) {
    if (typeof f.body !== 'string') throw faultError('body', 'a string')
    fault.body = f.body
  }
  if (f.headers !== undefined) {
    const h = f.headers
    if (typeof h !== 'object' || h === null || !Object.values(h).every((v) => typeof v === 'string')) {
      throw faultError('headers', 'an object of strings')
    }
    fault.headers = { ...(h as Record<string, string>) }
  }
  if (f.delayMs !== undefined) {
    if (!isNonNegativeInteger(f.delayMs)) throw faultError('delayMs', 'a non-negative integer')
    fault.delayMs = f.delayMs
  }
  if (f.stallBody !== undefined) {
    if (typeof f.stallBody !== 'boolean') throw faultError('stallBody', 'a boolean')
    fault.stallBody = f.stallBody
  }
  if (f.drop !== undefined) {
    if (f.drop !== 'immediately' && f.drop !== 'mid-body' && f.drop !== 'after-store') {
      throw faultError('drop', "'immediately', 'mid-body' or 'after-store'")
    }
    fault.drop = f.drop
  }
  if (f.truncate !== undefined) {
    if (typeof f.truncate !== 'boolean') throw faultError('truncate', 'a boolean')
    fault.truncate = f.truncate
  }
  if (fault.status === undefined && fault.drop === undefined && fault.delayMs === undefined && !fault.truncate) {
    throw new TypeError('fault needs at least one of status, drop, delayMs, truncate')
  }
  return fault
}
