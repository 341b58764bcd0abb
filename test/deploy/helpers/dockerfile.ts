// A small Dockerfile reader for the assertions and for replaying the build outside Docker.
// Syntax checking is hadolint's job (a real parser); this only splits what it accepted.

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY... */
  keyword: string
  /** Everything after the keyword, continuation lines joined. */
  raw: string
  /** --name=value flags at the start (COPY --from, HEALTHCHECK --interval...). */
  flags: Record<string, string>
  /** The arguments after the flags. */
  args: string
  /** Exec form (a JSON array), when the arguments are one. */
  exec?: string[]
  line: number
}

export interface Stage {
  image: string
  name?: string
  instructions: Instruction[]
}

export function parseDockerfile (text: string): Instruction[] {
  const instructions: Instruction[] = []
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!
    if (/^\s*(#.*)?$/.test(line)) continue
    const start = i + 1
    // Continuation lines: a trailing backslash joins the next line; comment lines inside are dropped.
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ')
      i++
      if (/^\s*#/.test(lines[i]!)) {
        line += '\\'
        continue
      }
      line += lines[i]!.trim()
    }
    const match = /^\s*([A-Za-z]+)\s*(.*)$/.exec(line)
    if (match === null) throw new Error(`line ${start}: not an instruction: ${line}`)
    let rest = match[2]!.trim()
    const flags: Record<string, string> = {}
    for (let flag = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest); flag !== null; flag = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest)) {
      flags[flag[1]!] = flag[2] ?? 'true'
      rest = rest.slice(flag[0].length)
    }
    const keyword = match[1]!.toUpperCase()
    const instruction: Instruction = { keyword, raw: match[2]!.trim(), flags, args: rest, line: start }
    // HEALTHCHECK [flags] CMD <command>: the command's form is what matters.
    const execText = keyword === 'HEALTHCHECK' ? rest.replace(/^CMD\s+/, '') : rest
    if (execText.startsWith('[')) {
      try {
        const parsed: unknown = JSON.parse(execText)
        if (Array.isArray(parsed) && parsed.every((s) => typeof s === 'string')) instruction.exec = parsed
      } catch {
        // Shell form that happens to start with '['.
      }
    }
    instructions.push(instruction)
  }
  return instructions
}

export function stages (instructions: Instruction[]): Stage[] {
  const result: Stage[] = []
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = instruction.args.split(/\s+/)
      result.push({ image: image!, ...(as?.toUpperCase() === 'AS' && name !== undefined ? { name } : {}), instructions: [] })
    } else if (result.length > 0) {
      result.at(-1)!.instructions.push(instruction)
    } else if (instruction.keyword !== 'ARG') {
      throw new Error(`line ${instruction.line}: ${instruction.keyword} before FROM`)
    }
  }
  return result
}

/** ENV a=b c="d e" (and the legacy ENV a b) as key/value pairs. */
export function parseEnv (args: string): Record<string, string> {
  const env: Record<string, string> = {}
  const legacy = /^([A-Za-z_][A-Za-z0-9_]*)\s+([^=]*)$/.exec(args)
  if (legacy !== null) {
    env[legacy[1]!] = legacy[2]!.trim()
    return env
  }
  const pair = /([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|\S*)\s*/g
  for (const m of args.matchAll(pair)) {
    const value = m[2]!
    env[m[1]!] = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value.startsWith("'") ? value.slice(1, -1) : value
  }
  return env
}
