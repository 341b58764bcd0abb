// Mounted files the configuration names: secrets (NAME or NAME_FILE), and PEM bundles. Each is
// read here, once, at start-up; problems name the variable and the file, never the contents.
import { readFileSync } from 'node:fs'
import type { Findings } from './findings.js'

export type Env = Record<string, string | undefined>

/** A file's contents without the trailing newline most tools add; throws when it cannot be read. */
export function readSecretText (path: string): string {
  return readFileSync(path, 'utf8').replace(/\r?\n$/, '')
}

/** Reads a mounted secret; undefined (and a problem) when it is missing or empty. */
export function readSecretFile (path: string, label: string, found: Findings): string | undefined {
  try {
    const value = readSecretText(path)
    if (value !== '') return value
    found.problem(`${label} (${path}) is empty`)
  } catch (err) {
    found.problem(`${label} (${path}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  return undefined
}

export interface SecretSource {
  /** The secret, when it is set and could be read. */
  value?: string
  /** NAME_FILE, when the secret came from a file. */
  file?: string
  /** Set, but unusable: a problem was recorded. */
  failed: boolean
}

/** Reads NAME, or the contents of the file named by NAME_FILE; never both. */
export function readSecret (env: Env, name: string, found: Findings): SecretSource {
  const direct = nonEmpty(env[name])
  const file = nonEmpty(env[`${name}_FILE`])
  if (direct !== undefined && file !== undefined) {
    found.problem(`${name} and ${name}_FILE are both set: set only one`)
    return { failed: true }
  }
  if (file === undefined) return { value: direct, failed: false }
  const value = readSecretFile(file, `${name}_FILE`, found)
  return { value, file, failed: value === undefined }
}

/** A PEM bundle of CA certificates (CIC_CA_FILE, REDIS_CA_FILE). */
export function readCaFile (path: string, label: string, found: Findings): string | undefined {
  const pem = readSecretFile(path, label, found)
  if (pem === undefined || pem.includes('-----BEGIN CERTIFICATE-----')) return pem
  found.problem(`${label} (${path}) holds no PEM certificate`)
  return undefined
}

export function nonEmpty (value: string | undefined): string | undefined {
  return value === '' ? undefined : value
}
