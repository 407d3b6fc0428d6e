/** The environment a config is read against; `process.env` fits. */
export type Env = Readonly<Record<string, string | undefined>>

/** A `[start, end)` range of offsets into a text. */
export type Span = readonly [number, number]

/** One `${…}` (or `$${`) that substitution replaced: where it stood, and where its replacement stands. */
export interface Replacement {
  /** In the text as written (the file). */
  readonly source: Span
  /** In the substituted text (what the YAML parser reads). */
  readonly target: Span
  /** The variable a `${NAME}` or `${NAME:-default}` named; absent for `$${` and malformed references. */
  readonly variable?: {
    readonly name: string
    /** NAME was unset or empty. */
    readonly unset: boolean
    /** `${NAME:-default}` gave its default (NAME was unset or empty). */
    readonly defaulted: boolean
  }
}

export interface Substituted {
  readonly text: string
  /** One line per reference that could not be resolved. */
  readonly problems: readonly string[]
  /** Every replacement, in text order: which variable went where, never its value. */
  readonly replacements: readonly Replacement[]
}

// `$${` is an escape for a literal `${`. Names follow POSIX shell rules.
const REFERENCE = /\$\$\{|\$\{([^}\n]*)\}/g
const EXPRESSION = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s

/**
 * Replaces `${NAME}` and `${NAME:-default}` in the config text, before it is parsed as YAML.
 * As in the shell, the default also applies when NAME is set but empty. An unset `${NAME}` without a
 * default is a problem (it would otherwise become an empty value, found only at the first login).
 * Lines that are only a comment are left alone, so a commented-out `# clientSecret: ${X}` needs no X.
 */
export function substituteEnv(text: string, env: Env): Substituted {
  const problems: string[] = []
  const replacements: Replacement[] = []
  let output = ''
  let sourceLineStart = 0
  text.split('\n').forEach((line, index) => {
    if (index > 0) output += '\n'
    let copied = 0
    if (!/^\s*#/.test(line)) {
      for (const match of line.matchAll(REFERENCE)) {
        const reference = match[0]
        const replaced = replace(reference, match[1], index + 1)
        output += line.slice(copied, match.index)
        copied = match.index + reference.length
        const sourceStart = sourceLineStart + match.index
        replacements.push({
          source: [sourceStart, sourceStart + reference.length],
          target: [output.length, output.length + replaced.value.length],
          ...(replaced.variable === undefined ? {} : { variable: replaced.variable }),
        })
        output += replaced.value
      }
    }
    output += line.slice(copied)
    sourceLineStart += line.length + 1
  })
  return { text: output, problems, replacements }

  function replace(reference: string, expression: string | undefined, lineNumber: number): { value: string; variable?: Replacement['variable'] } {
    if (expression === undefined) return { value: '${' }
    const match = EXPRESSION.exec(expression)
    const name = match?.[1]
    if (match === null || name === undefined) {
      problems.push(`line ${lineNumber}: "${reference}" is not a variable reference (expected \${NAME} or \${NAME:-default})`)
      return { value: '' }
    }
    const value = env[name]
    const unset = value === undefined || value === ''
    const fallback = match[2]
    if (fallback !== undefined) return { value: unset ? fallback : value, variable: { name, unset, defaulted: unset } }
    if (value === undefined) {
      problems.push(`line ${lineNumber}: environment variable ${name} is not set (write \${${name}:-default} to give a default)`)
    }
    return { value: value ?? '', variable: { name, unset, defaulted: false } }
  }
}

/**
 * The offset in the text as written that an offset into the substituted text stands for, and the
 * variable whose value holds it, if one does (its position within that value is not given away).
 */
export function sourcePosition(replacements: readonly Replacement[], offset: number): { offset: number; insideOf?: string } {
  let shift = 0
  for (const { source, target, variable } of replacements) {
    if (offset < target[0]) break
    if (offset < target[1]) return { offset: source[0], ...(variable === undefined ? {} : { insideOf: variable.name }) }
    shift = source[1] - target[1]
  }
  return { offset: offset + shift }
}
