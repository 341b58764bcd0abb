// Public entry point of the CIC simulator.
export { startSimulator } from './server.js'
export type { CallCounts, MailboxInfo, RequestRecord, Simulator } from './server.js'
export { DEMO_PASSWORD, DEMO_USERNAME, OPERATIONS } from './options.js'
export type {
  ChunkedUploads,
  Fault,
  Operation,
  RandomFaults,
  SameNamePolicy,
  SimulatorAccount,
  SimulatorOptions,
  SimulatorSettings
} from './options.js'
export type { StoredFile } from './store.js'
