// The test-facing handle of a running simulator (startSimulator's result) and what it reports.
import type { IncomingHttpHeaders } from 'node:http'
import type { Fault, Operation, SimulatorSettings } from './options.js'
import type { StoredFile } from './store.js'

export type CallCounts = Record<Operation, number>

export interface RequestRecord {
  /** 'unknown' for requests that matched no CIC route. */
  operation: Operation | 'unknown'
  method: string
  /** Path and query as sent. */
  path: string
  headers: IncomingHttpHeaders
  /** ms timestamp of arrival. */
  at: number
  /** The fault applied to this call, if any. */
  fault?: Fault
  /** The status answered, once the answer is sent (none for a dropped connection). */
  status?: number
}

export interface MailboxInfo {
  username: string
  userId: string
  homeId: string
  downloadId: string
  uploadId: string
}

export interface Simulator {
  /** Base URL, e.g. `http://127.0.0.1:PORT`. */
  readonly url: string
  readonly port: number
  /** Snapshot of calls per operation; every matched request counts, failed and faulted ones too. */
  readonly calls: CallCounts
  /** The last 1000 CIC requests (control API requests excluded), oldest first. */
  readonly requests: RequestRecord[]
  /** Snapshot of the current settings. */
  readonly settings: SimulatorSettings
  /** Stops listening and destroys every open connection. */
  close: () => Promise<void>
  /** Fully received files, in storage order. */
  files: (username?: string) => StoredFile[]
  mailbox: (username: string) => MailboxInfo
  revokeAllTokens: () => void
  /** Changes an account's password, as a CIC administrator would; issued tokens stay valid. */
  setPassword: (username: string, password: string) => void
  setTokenLifetime: (seconds: number) => void
  recreateFolders: (username: string) => void
  addChildren: (username: string, count: number) => void
  setOption: <K extends keyof SimulatorSettings>(name: K, value: SimulatorSettings[K]) => void
  inject: (operation: Operation, fault: Fault) => void
  clearFaults: () => void
  pendingFaults: () => Record<Operation, Fault[]>
  /** Forgets files, call counters, the request log and queued faults (restarts a seeded random sequence). */
  reset: () => void
}
