// Every secret the gateway knows, in one place, so that any text CIC sends back (an error
// message is logged, and its gist may reach an error) is cleaned of all of them, not only of
// what the same request carried: CIC may echo another mailbox's password, a caller's key or
// another current token. Filled from the configuration by the delivery service; the CIC
// client adds every password it logs in with (a rotated password file) and every token it
// is given or uses.

const REDACTED = '[redacted]'
/** Tokens seen, oldest dropped first: several per mailbox over a process's life, far fewer than this. */
const MAX_TOKENS = 1024

export class Secrets {
  private readonly values = new Set<string>()
  private readonly tokens = new Set<string>()
  /** Every form of every secret, longest first (so a secret containing another is cut whole); rebuilt after a change. */
  private patterns: string[] | undefined

  constructor (secrets: Iterable<string> = []) {
    for (const s of secrets) this.add(s)
  }

  /** A configured secret: a password, a caller key, a proxy credential. */
  add (secret: string | undefined): void {
    if (secret === undefined || secret === '' || this.values.has(secret)) return
    this.values.add(secret)
    this.patterns = undefined
  }

  /** A CIC token this process holds. Cheap when already known: it is called for every CIC call. */
  addToken (token: string): void {
    if (token === '' || this.tokens.has(token)) return
    this.tokens.add(token)
    if (this.tokens.size > MAX_TOKENS) this.tokens.delete(this.tokens.values().next().value!)
    this.patterns = undefined
  }

  /** The text with every known secret (and `extra`) cut out, in each form it may be echoed in. */
  scrub (text: string, extra: Iterable<string> = []): string {
    const extras = [...extra].filter(s => s !== '' && !this.values.has(s) && !this.tokens.has(s))
    const patterns = extras.length === 0 ? this.allPatterns() : sortPatterns([...this.allPatterns(), ...extras.flatMap(forms)])
    let out = text
    for (const p of patterns) if (out.includes(p)) out = out.split(p).join(REDACTED)
    return out
  }

  private allPatterns (): string[] {
    this.patterns ??= sortPatterns([...[...this.values].flatMap(forms), ...this.tokens])
    return this.patterns
  }
}

/** A secret as sent or echoed: raw, form-encoded (a login body), percent-encoded, JSON-escaped. */
function forms (secret: string): string[] {
  return [
    secret,
    new URLSearchParams({ s: secret }).toString().slice(2),
    encodeURIComponent(secret),
    JSON.stringify(secret).slice(1, -1)
  ]
}

function sortPatterns (patterns: string[]): string[] {
  return [...new Set(patterns)].filter(p => p !== '').sort((a, b) => b.length - a.length)
}
