/**
 * Everything wrong with a configuration, one line per problem. Each line names the key path, what was
 * expected and what was found, and never holds a secret value. The CLI prints `message` and exits 2.
 */
export class ConfigError extends Error {
  readonly lines: readonly string[]
  constructor(lines: readonly string[]) {
    super(lines.join('\n'))
    this.name = 'ConfigError'
    this.lines = Object.freeze([...lines])
  }
}

export function isConfigError(value: unknown): value is ConfigError {
  return value instanceof ConfigError
}
