import { type Document, parseDocument, type YAMLError } from 'yaml'
import { sourcePosition, type Substituted } from './substitute-env.ts'
import { describeKind, isAbsent, isMapping, type Mapping, type Problems } from './validate.ts'

export interface ParsedYaml {
  readonly root: Mapping
  /** The parsed document, for where a value stood (variable-origin.ts). */
  readonly document: Document.Parsed
}

/**
 * Parses the substituted config text into its top-level mapping, or records why it cannot. Positions
 * are given in `written`, the text as written in the file, which is what an operator has open.
 * YAML messages are used without their source excerpt: the text may hold a substituted secret.
 */
export function parseYaml(problems: Problems, substituted: Substituted, written: string): ParsedYaml | undefined {
  const { text } = substituted
  // uniqueKeys (the default) makes a repeated key an error instead of a silent override. logLevel
  // 'error' keeps the library from printing its own warnings to stderr, which quote the text.
  // prettyErrors stays off: it would copy the offending line into each error's message.
  const document = parseDocument(text, { prettyErrors: false, logLevel: 'error' })
  const failures = [...document.errors, ...document.warnings]
  if (failures.length > 0) {
    for (const failure of failures) {
      if (isRepeatedReport(failure, failures)) continue
      problems.push(yamlLine(failure, substituted, written))
    }
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
  return { root: value, document }
}

/**
 * The offset (in the substituted text) of what is wrong. The library's `pos` is the [start, end) of
 * the token or node at fault, the same range its `linePos` gives as lines and columns. Usually the
 * start is the place; for a key indented deeper than its neighbours the library reports a plain
 * scalar that runs on from the line above and then meets a ":" (a multi-line implicit key): it
 * starts on the line before, and the ":" at its end, on the line at fault, is the place. A bad
 * indent that starts on an earlier (blank or comment) line likewise ends where the indent is.
 */
function faultOffset(failure: YAMLError, text: string): number {
  const [start, end] = failure.pos
  if (failure.code === 'MULTILINE_IMPLICIT_KEY') return end
  if (failure.code === 'BAD_INDENT' && text.slice(start, end).includes('\n')) return end
  return start
}

/** A block-as-implicit-key error on the very key a multi-line-implicit-key error reports: one fault, one line. */
function isRepeatedReport(failure: YAMLError, failures: readonly YAMLError[]): boolean {
  return failure.code === 'BLOCK_AS_IMPLICIT_KEY'
    && failures.some((other) => other.code === 'MULTILINE_IMPLICIT_KEY' && other.pos[0] === failure.pos[0])
}

function yamlLine(failure: YAMLError, substituted: Substituted, written: string): string {
  const position = sourcePosition(substituted.replacements, faultOffset(failure, substituted.text))
  const { line, column } = lineAndColumn(written, position.offset)
  // A fault inside a substituted value is placed at its ${NAME}, and the variable named: where in the
  // value would say something about a secret.
  const inside = position.insideOf === undefined ? '' : `, in the value of \${${position.insideOf}}`
  // Never the library's message: it quotes the offending token, which may be a substituted secret.
  const message = failure.code === 'MULTILINE_IMPLICIT_KEY' ? 'invalid YAML (a key that runs on from the line above: is this line indented too deep?)'
    : failure.code === 'MULTIPLE_DOCS' ? 'the file holds more than one YAML document'
      : failure.code === 'DUPLICATE_KEY' ? 'a key is repeated'
        : `invalid YAML (${failure.code.toLowerCase().replaceAll('_', ' ')})`
  return `yaml: line ${line}, column ${column}${inside}: ${message}`
}

/** 1-based line and column of an offset, as the yaml library counts them (columns in UTF-16 units). */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset)
  const lineStart = before.lastIndexOf('\n') + 1
  return { line: before.split('\n').length, column: offset - lineStart + 1 }
}
