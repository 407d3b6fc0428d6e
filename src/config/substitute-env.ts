/** The environment a config is read against; `process.env` fits. */
export type Env = Readonly<Record<string, string | undefined>>

export interface Substituted {
  readonly text: string
  /** One line per reference that could not be resolved. */
  readonly problems: readonly string[]
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
  const lines = text.split('\n').map((line, index) => {
    if (/^\s*#/.test(line)) return line
    return line.replace(REFERENCE, (reference: string, expression: string | undefined) => {
      if (expression === undefined) return '${'
      const match = EXPRESSION.exec(expression)
      const name = match?.[1]
      if (match === null || name === undefined) {
        problems.push(`line ${index + 1}: "${reference}" is not a variable reference (expected \${NAME} or \${NAME:-default})`)
        return ''
      }
      const value = env[name]
      const fallback = match[2]
      if (fallback !== undefined) return value === undefined || value === '' ? fallback : value
      if (value === undefined) {
        problems.push(`line ${index + 1}: environment variable ${name} is not set (write \${${name}:-default} to give a default)`)
        return ''
      }
      return value
    })
  })
  return { text: lines.join('\n'), problems }
}
