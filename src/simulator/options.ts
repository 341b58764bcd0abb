// Public types and option handling of the CIC simulator. Settings, faults and the standalone
// runner's environment are each one schema (TypeBox, so the types are the schemas' own),
// compiled once by Ajv, the way the gateway validates its configuration: every mistake is
// named in one error.
import { Ajv, type ErrorObject } from 'ajv'
import envSchema from 'env-schema'
import { Type, type Static } from 'typebox'

export const OPERATIONS = ['login', 'folders', 'children', 'upload'] as const
const OperationSchema = Type.Enum(OPERATIONS)
export type Operation = Static<typeof OperationSchema>

/** The demo partner mailbox. The password holds every character that breaks naive form encoding. */
export const DEMO_USERNAME = 'demo'
export const DEMO_PASSWORD = 'Demo@Passw0rd&+%'

export interface SimulatorAccount {
  username: string
  password: string
  /** Extra folders `archive-0001`... listed before download/upload, to force clients to page. */
  extraChildren?: number
}

const SameNamePolicySchema = Type.Enum(['overwrite', 'reject', 'rename'])
const ChunkedUploadsSchema = Type.Enum(['reject', 'accept'])
export type SameNamePolicy = Static<typeof SameNamePolicySchema>
export type ChunkedUploads = Static<typeof ChunkedUploadsSchema>

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
const FaultSchema = Type.Object({
  times: Type.Optional(Type.Integer({ minimum: 1 })),
  status: Type.Optional(Type.Integer({ minimum: 200, maximum: 599 })),
  body: Type.Optional(Type.String()),
  headers: Type.Optional(Type.Record(Type.String(), Type.String())),
  delayMs: Type.Optional(Type.Integer({ minimum: 0 })),
  stallBody: Type.Optional(Type.Boolean()),
  drop: Type.Optional(Type.Enum(['immediately', 'mid-body', 'after-store'])),
  truncate: Type.Optional(Type.Boolean())
}, {
  anyOf: [{ required: ['status'] }, { required: ['drop'] }, { required: ['delayMs'] }, { required: ['truncate'], properties: { truncate: { const: true } } }]
})
export type Fault = Static<typeof FaultSchema>

const RandomFaultsSchema = Type.Object({
  /** Probability 0..1 that a call gets a fault. */
  rate: Type.Number({ minimum: 0, maximum: 1 }),
  /** Operations eligible for random faults; default all. */
  operations: Type.Optional(Type.Array(OperationSchema)),
  /** Seed of the PRNG; without it the sequence is not reproducible. */
  seed: Type.Optional(Type.Integer())
}, { additionalProperties: false })
export type RandomFaults = Static<typeof RandomFaultsSchema>

/** Options that can also be changed while running (setOption, PUT /_sim/options). */
const SettingsSchema = Type.Object({
  tokenLifetimeSeconds: Type.Integer({ minimum: 1 }),
  pageSize: Type.Integer({ minimum: 1 }),
  sameNamePolicy: SameNamePolicySchema,
  maxFileBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  /** A burst limit: more uploads at once per user get 429 + Retry-After: 1 (CIC-API.md: 429 on bursts, its limits unknown). */
  maxConcurrentUploads: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Compared case-insensitively with a leading dot, like the mailbox setting. */
  allowedExtensions: Type.Optional(Type.Array(Type.String({ pattern: '^(?!\\.?$)' }))),
  chunkedUploads: ChunkedUploadsSchema,
  keepBodies: Type.Boolean(),
  randomFaults: Type.Optional(RandomFaultsSchema),
  /**
   * One session per user: a login revokes the user's earlier tokens (they get 401 "Token has been
   * revoked"), as CIC might do (CIC-API.md lists it as unknown). While on, only the token of each
   * user's latest login is accepted, whether it was issued before the mode was turned on or after.
   */
  singleSession: Type.Boolean()
}, { additionalProperties: false })
export type SimulatorSettings = Static<typeof SettingsSchema>

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
  maxConcurrentUploads: undefined,
  allowedExtensions: undefined,
  chunkedUploads: 'reject',
  keepBodies: true,
  randomFaults: undefined,
  singleSession: false
})

const SETTING_NAMES = Object.keys(SettingsSchema.properties) as Array<keyof SimulatorSettings>
const REQUIRED = new Set<string>(SettingsSchema.required)

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false })
const validateSettings = ajv.compile<Partial<SimulatorSettings>>(Type.Partial(SettingsSchema, { additionalProperties: false }))
const validateFault = ajv.compile<Fault>(FaultSchema)

/** Ajv's errors as `<subject><where> <what>`, naming places and allowed values, never the values given. */
function describe (errors: ErrorObject[] | null | undefined, subject: string): string {
  const out = new Set<string>()
  for (const e of errors ?? []) {
    const where = `${subject}${e.instancePath.split('/').slice(1).join('.')}`.replace(/[. ]$/, '')
    if (e.keyword === 'additionalProperties') out.add(`unknown ${where} ${String(e.params.additionalProperty)}`)
    else if (e.keyword === 'enum') out.add(`${where} must be one of ${(e.params.allowedValues as string[]).join(', ')}`)
    // The fault's anyOf: none of its branches (status, drop, delayMs, truncate: true) holds.
    else if (e.keyword === 'anyOf' || e.keyword === 'const') out.add(`${where} needs at least one of status, drop, delayMs, truncate`)
    else out.add(`${where} ${e.message ?? 'is invalid'}`)
  }
  return [...out].join('; ')
}

function isSettingName (name: string): name is keyof SimulatorSettings {
  return (SETTING_NAMES as string[]).includes(name)
}

export function isOperation (value: unknown): value is Operation {
  return typeof value === 'string' && (OPERATIONS as readonly string[]).includes(value)
}

/** Validates settings (null or undefined clears an optional one); throws a TypeError naming every mistake. Returns clean copies. */
export function checkSettings (input: object): Partial<SimulatorSettings> {
  // A setting that cannot be cleared stays null, which its type refuses.
  const settings = Object.fromEntries(Object.entries(input).map(([name, value]) => [name, value ?? (REQUIRED.has(name) ? null : undefined)]))
  if (!validateSettings(settings)) throw new TypeError(describe(validateSettings.errors, 'simulator option '))
  const { allowedExtensions, randomFaults } = settings
  if (allowedExtensions !== undefined) settings.allowedExtensions = allowedExtensions.map((e) => (e.startsWith('.') ? e : `.${e}`).toLowerCase())
  if (randomFaults !== undefined) settings.randomFaults = structuredClone(randomFaults)
  return settings
}

/** Validates one setting; throws a TypeError naming the setting. Returns the normalised value. */
export function checkSetting<K extends keyof SimulatorSettings> (name: K, value: unknown): SimulatorSettings[K] {
  if (!isSettingName(name)) throw new TypeError(`unknown simulator option ${String(name)}`)
  return checkSettings({ [name]: value })[name] as SimulatorSettings[K]
}

export function resolveSettings (options: SimulatorOptions): SimulatorSettings {
  const given = Object.fromEntries(SETTING_NAMES.filter((name) => options[name] !== undefined).map((name) => [name, options[name]]))
  return { ...DEFAULT_SETTINGS, ...checkSettings(given) }
}

/** Validates a fault (from code or from the control API) and returns a clean copy. */
export function checkFault (input: unknown): Fault {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new TypeError('fault must be an object')
  const known = Object.keys(FaultSchema.properties)
  const fault = structuredClone(Object.fromEntries(Object.entries(input).filter(([k, v]) => known.includes(k) && v !== undefined)))
  if (!validateFault(fault)) throw new TypeError(describe(validateFault.errors, 'fault.'))
  return fault
}

// The standalone runner (main.ts) reads its options from SIMULATOR_* variables.
const FLAG = ['true', '1', 'yes', 'false', '0', 'no'] as const
const FLAGS = ['SIMULATOR_KEEP_BODIES', 'SIMULATOR_SINGLE_SESSION', 'SIMULATOR_CHUNKED']

const EnvSchema = Type.Object({
  SIMULATOR_HOST: Type.String({ default: '0.0.0.0' }),
  SIMULATOR_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8081 }),
  SIMULATOR_USERNAME: Type.String({ default: DEMO_USERNAME }),
  SIMULATOR_PASSWORD: Type.String({ default: DEMO_PASSWORD }),
  SIMULATOR_EXTRA_CHILDREN: Type.Integer({ minimum: 0, default: 0 }),
  // Standalone runs are long-lived: keep hashes, not bodies, unless asked.
  SIMULATOR_KEEP_BODIES: Type.Enum(FLAG, { default: 'false' }),
  SIMULATOR_SINGLE_SESSION: Type.Optional(Type.Enum(FLAG)),
  SIMULATOR_TOKEN_LIFETIME_SECONDS: Type.Optional(Type.Integer({ minimum: 1 })),
  SIMULATOR_PAGE_SIZE: Type.Optional(Type.Integer({ minimum: 1 })),
  SIMULATOR_MAX_FILE_BYTES: Type.Optional(Type.Integer({ minimum: 0 })),
  SIMULATOR_CHUNKED: Type.Optional(Type.Enum([...FLAG, 'accept', 'reject'])),
  SIMULATOR_FAULT_RATE: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  SIMULATOR_FAULT_SEED: Type.Optional(Type.Integer({ minimum: 0 })),
  SIMULATOR_SAME_NAME_POLICY: Type.Optional(SameNamePolicySchema),
  SIMULATOR_MAX_CONCURRENT_UPLOADS: Type.Optional(Type.Integer({ minimum: 1 })),
  /** Comma-separated. */
  SIMULATOR_ALLOWED_EXTENSIONS: Type.Optional(Type.String())
})
type SimulatorEnv = Static<typeof EnvSchema>

function readEnv (env: Record<string, string | undefined>): SimulatorEnv {
  const data: Record<string, string> = {}
  for (const name of Object.keys(EnvSchema.properties)) {
    const value = env[name]
    if (value !== undefined && value !== '') data[name] = FLAGS.includes(name) ? value.toLowerCase() : value
  }
  try {
    return envSchema<SimulatorEnv>({ schema: structuredClone(EnvSchema), data, env: false, dotenv: false })
  } catch (err) {
    const errors = (err as { errors?: ErrorObject[] }).errors
    if (errors === undefined) throw err
    throw new Error(`invalid simulator environment: ${describe(errors, '')}`)
  }
}

const isOn = (value: string): boolean => ['true', '1', 'yes', 'accept'].includes(value)

/** The standalone simulator's options from SIMULATOR_* variables; throws naming every bad one. */
export function optionsFromEnv (env: Record<string, string | undefined>): SimulatorOptions {
  const e = readEnv(env)
  const rate = e.SIMULATOR_FAULT_RATE
  const seed = e.SIMULATOR_FAULT_SEED
  return {
    host: e.SIMULATOR_HOST,
    port: e.SIMULATOR_PORT,
    accounts: [{ username: e.SIMULATOR_USERNAME, password: e.SIMULATOR_PASSWORD, extraChildren: e.SIMULATOR_EXTRA_CHILDREN }],
    keepBodies: isOn(e.SIMULATOR_KEEP_BODIES),
    singleSession: e.SIMULATOR_SINGLE_SESSION === undefined ? undefined : isOn(e.SIMULATOR_SINGLE_SESSION),
    tokenLifetimeSeconds: e.SIMULATOR_TOKEN_LIFETIME_SECONDS,
    pageSize: e.SIMULATOR_PAGE_SIZE,
    maxFileBytes: e.SIMULATOR_MAX_FILE_BYTES,
    maxConcurrentUploads: e.SIMULATOR_MAX_CONCURRENT_UPLOADS,
    chunkedUploads: e.SIMULATOR_CHUNKED === undefined ? undefined : isOn(e.SIMULATOR_CHUNKED) ? 'accept' : 'reject',
    randomFaults: rate === undefined ? undefined : seed === undefined ? { rate } : { rate, seed },
    sameNamePolicy: e.SIMULATOR_SAME_NAME_POLICY,
    allowedExtensions: e.SIMULATOR_ALLOWED_EXTENSIONS?.split(',').map((x) => x.trim()).filter(Boolean)
  }
}
