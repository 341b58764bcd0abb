// Whether a process of this host still runs: how the outbox lock and the spool tell a dead
// process's leftovers from a live neighbour's.
export function isProcessAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
