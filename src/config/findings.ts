// What reading the configuration finds besides values: problems (reported together, in one
// ConfigError), warnings (logged at start-up) and every secret value read (the log scan
// looks for them). Messages name variables, files and positions, never values.

export class ConfigError extends Error {
  constructor (public readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
  }
}

export class Findings {
  readonly problems: string[] = []
  readonly warnings: string[] = []
  readonly secrets: string[] = []

  problem (message: string): void {
    this.problems.push(message)
  }

  warn (message: string): void {
    this.warnings.push(message)
  }

  secret (...values: string[]): void {
    this.secrets.push(...values)
  }
}
