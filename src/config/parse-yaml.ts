import { LineCounter, parseDocument, type YAMLError } from 'yaml'
import { describeKind, isAbsent, isMapping, type Mapping, type Problems } from './validate.ts'

/**
 * Parses the (already substituted) config text into its top-level mapping, or records why it cannot.
 * YAML messages are used without their source excerpt: the text may hold a substituted secret.
 */
export function parseYaml(problems: Problems, text: string): Mapping | undefined {
  const lineCounter = new LineCounter()
  // uniqueKeys (the default) makes a repeated key an error instead of a silent override. logLevel
  // 'error' keeps the library from printing its own warnings to stderr, which quote the text.
  const document = parseDocument(text, { prettyErrors: false, lineCounter, logLevel: 'error' })
  const failures = [...document.errors, ...document.warnings]
  if (failures.length > 0) {
    for (const failure of failures) problems.push(yamlLine(failure, lineCounter))
    return undefined
  }
  let value: unknown
  try {
    value = document.toJS({ maxAliasCount: 100 })
  } catch (error) {
    // An unresolved alias or an alias bomb is only found while building values. The message may quote
    // the text, so it is not repeated.
    problems.push(`yaml: the document cannot be built (${error instanceof ReferenceError ? 'unresolved alias' : 'too many aliases or a bad alias'})`)
    return undefined
  }
  if (isAbsent(value)) {
    problems.push('(top level): the file is empty (expected a mapping with publicUrl, oidc, session and routes)')
    return undefined
  }
  if (!isMapping(value)) {
    problems.push(`(top level): must be a mapping with publicUrl, oidc, session and routes (got ${describeKind(value)})`)
    return undefined
  }
  return value
}

function yamlLine(failure: YAMLError, lineCounter: LineCounter): string {
  const { line, col } = lineCounter.linePos(failure.pos[0])
  // Never the library's message: it quotes the offending token, which may be a substituted secret.
  const message = failure.code === 'MULTIPLE_DOCS' ? 'the file holds more than one YAML document'
    : failure.code === 'DUPLICATE_KEY' ? 'a key is repeated'
      : `invalid YAML (${failure.code.toLowerCase().replaceAll('_', ' ')})`
  return `yaml: line ${line}, column ${col}: ${message}`
}
