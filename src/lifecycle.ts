/** Process-wide state the HTTP layer reads; main() moves it along during a shutdown. */
export interface Lifecycle {
  /** SIGTERM received: /readyz answers 503 so endpoints drop this pod, requests are still served. */
  shuttingDown: boolean
  /** Shutdown delay over: new requests get 503 with Connection: close; in-flight ones finish. */
  draining: boolean
}

export function createLifecycle (): Lifecycle {
  return { shuttingDown: false, draining: false }
}
