/**
 * Field readers shared by the config sections. Each checks one value, pushes a line per problem onto
 * `problems` (key path, what was expected, what was found) and returns a usable value either way, so
 * that every key is checked before loadConfig throws once with all the lines.
 */
import { closestKey } from './did-you-mean.ts'
import { parseDuration } from './duration.ts'
import type { Seconds } from './types.ts'
import { fromVariables, type VariableOrigin } from './variable-origin.ts'

/** Lines collected while reading, one per problem, each starting with its key path. */
export type Problems = string[]

export type Mapping = Readonly<Record<string, unknown>>

export function isMapping(value: unknown): value is Mapping {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const prototype: unknown = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

/** `key:` and `key: null` mean the same as leaving the key out: use the default. */
export function isAbsent(value: unknown): value is undefined | null {
  return value === undefined || value === null
}

// Keys as operators write them; any other key (empty, spaced, dotted, multi-line) is shown quoted, so
// that a problem line stays one line and its path reads one way.
const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/

export function keyPath(parent: string, key: string): string {
  const shown = PLAIN_KEY.test(key) ? key : JSON.stringify(key)
  return parent === '' ? shown : `${parent}.${shown}`
}

export function itemPath(parent: string, index: number): string {
  return `${parent}[${index}]`
}

/** What kind of value was found, without showing it: the only description allowed for secrets. */
export function describeKind(value: unknown): string {
  if (isAbsent(value)) return 'nothing'
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string'
  if (typeof value === 'number') return 'a number'
  if (typeof value === 'boolean') return 'a boolean'
  if (Array.isArray(value)) return 'a list'
  if (isMapping(value)) return 'a mapping'
  // Only custom YAML tags produce anything else, such as !!binary.
  return value instanceof Uint8Array ? 'binary data' : 'a value of another kind'
}

const MAX_SHOWN = 60

/** The found value as shown in a problem line. Never call it on a secret: use describeKind. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}…` : value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return describeKind(value)
}

export function mismatch(path: string, expected: string, value: unknown): string {
  return `${path}: must be ${expected} (got ${describe(value)})`
}

/** As mismatch, for a string field. */
export function notAString(path: string, expected: string, value: unknown): string {
  // A number or boolean where a string belongs is usually an unquoted YAML scalar (clientId: 1234).
  const hint = typeof value === 'number' || typeof value === 'boolean' ? '; quote it to make it a string' : ''
  return `${path}: must be ${expected} (got ${describe(value)}${hint})`
}

export function required(path: string, expected: string): string {
  return `${path}: required (${expected})`
}

export function unknownKey(path: string, key: string, keys: readonly string[]): string {
  const guess = closestKey(key, keys)
  if (guess !== undefined) return `${path}: unknown key (did you mean "${guess}"?)`
  return `${path}: unknown key (expected one of: ${keys.join(', ')})`
}

/** A mapping whose keys must all be in `keys`; an absent one reads as `{}` so its defaults apply. */
export function readMapping(problems: Problems, path: string, value: unknown, keys: readonly string[]): Mapping {
  if (isAbsent(value)) return {}
  if (!isMapping(value)) {
    problems.push(mismatch(path, 'a mapping', value))
    return {}
  }
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) problems.push(unknownKey(keyPath(path, key), key, keys))
  }
  return value
}

/** A list, or `undefined` when absent or not a list (the latter recorded as a problem). */
export function readList(problems: Problems, path: string, value: unknown, expected: string): readonly unknown[] | undefined {
  if (isAbsent(value)) return undefined
  if (Array.isArray(value)) return value
  problems.push(mismatch(path, expected, value))
  return undefined
}

/** A required non-empty string; `undefined` when missing or wrong. */
export function requireString(problems: Problems, path: string, value: unknown, expected = 'a non-empty string'): string | undefined {
  if (isAbsent(value)) {
    problems.push(required(path, expected))
    return undefined
  }
  if (typeof value === 'string' && value !== '') return value
  problems.push(notAString(path, expected, value))
  return undefined
}

/** An optional string, `fallback` when absent or wrong. */
export function readString(problems: Problems, path: string, value: unknown, fallback: string, allowEmpty = false): string {
  if (isAbsent(value)) return fallback
  if (typeof value === 'string' && (allowEmpty || value !== '')) return value
  problems.push(notAString(path, allowEmpty ? 'a string' : 'a non-empty string', value))
  return fallback
}

/**
 * A secret string: problems give its kind or length, never its text, and the `${NAME}` variables it
 * was substituted from (`origin`), if any. `undefined` when absent or wrong.
 */
export function readSecret(problems: Problems, path: string, value: unknown, minLength: number, origin?: VariableOrigin): string | undefined {
  if (isAbsent(value)) return undefined
  const from = origin === undefined ? '' : ` ${fromVariables(origin)}`
  if (typeof value !== 'string') {
    const expected = minLength === 1 ? 'a non-empty string' : `a string of at least ${minLength} characters`
    problems.push(`${path}: must be ${expected} (got ${describeKind(value)}${from})`)
    return undefined
  }
  if (value.length >= minLength) return value
  if (minLength > 1) problems.push(`${path}: must be at least ${minLength} characters (got ${value.length}${from})`)
  else problems.push(origin === undefined ? `${path}: must not be empty` : `${path}: must not be empty (got an empty string${from})`)
  return undefined
}

/** What a missing secret's `required` line adds: where its (empty) value came from, or nothing. */
export function gotNothing(origin: VariableOrigin | undefined): string {
  return origin === undefined ? '' : `; got nothing ${fromVariables(origin)}`
}

export function readBoolean(problems: Problems, path: string, value: unknown, fallback: boolean): boolean {
  if (isAbsent(value)) return fallback
  if (typeof value === 'boolean') return value
  problems.push(mismatch(path, 'true or false', value))
  return fallback
}

export function readInteger(problems: Problems, path: string, value: unknown, fallback: number, min: number, max: number): number {
  if (isAbsent(value)) return fallback
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value
  const range = max === Number.MAX_SAFE_INTEGER ? `of at least ${min}` : `from ${min} to ${max}`
  problems.push(mismatch(path, `an integer ${range}`, value))
  return fallback
}

export function readChoice<T extends string>(problems: Problems, path: string, value: unknown, choices: readonly T[], fallback: T): T {
  if (isAbsent(value)) return fallback
  const found = choices.find((choice) => choice === value)
  if (found !== undefined) return found
  problems.push(mismatch(path, `one of ${choices.join(', ')}`, value))
  return fallback
}

/** A duration in seconds; `positive` refuses zero (a zero timeout would fail every call). */
export function readDuration(problems: Problems, path: string, value: unknown, fallback: Seconds, positive: boolean): Seconds {
  if (isAbsent(value)) return fallback
  const seconds = parseDuration(value)
  if (seconds === undefined) {
    problems.push(mismatch(path, 'a duration such as "90s", "30m", "8h", "14d" or a number of seconds', value))
    return fallback
  }
  if (positive && seconds === 0) {
    problems.push(mismatch(path, 'more than 0 seconds', value))
    return fallback
  }
  return seconds
}

// RFC 9110 §5.6.2 token: header field names, and cookie names (RFC 6265 §4.1.1).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

export function isToken(value: string): boolean {
  return TOKEN.test(value)
}
