import { type Document, isMap, isNode, isScalar, isSeq } from 'yaml'
import type { Replacement, Span } from './substitute-env.ts'

/** The `${NAME}` references a value was substituted from (names and whether they were set, never values). */
export type VariableOrigin = readonly NonNullable<Replacement['variable']>[]

/** The variables the value at a key path came from; `undefined` when none did (or there is no such value). */
export type OriginOf = (path: readonly (string | number)[]) => VariableOrigin | undefined

export const NO_ORIGINS: OriginOf = () => undefined

/**
 * Tells, for a key path, which `${NAME}` references substitution put into its value. A value's span
 * runs from the end of its key (or of the list item before it) to the end of the value, so that an
 * empty value, which YAML places after the whitespace, still holds the reference that emptied it.
 */
export function variableOrigins(document: Document.Parsed, replacements: readonly Replacement[]): OriginOf {
  return (path) => {
    const span = valueSpan(document, path)
    if (span === undefined) return undefined
    const [start, end] = span
    const seen = new Set<string>()
    const variables = replacements.flatMap(({ target, variable }) => {
      if (variable === undefined || target[0] < start || target[1] > end) return []
      const key = `${variable.name}\0${String(variable.defaulted)}`
      if (seen.has(key)) return []
      seen.add(key)
      return [variable]
    })
    return variables.length === 0 ? undefined : variables
  }
}

function valueSpan(document: Document.Parsed, path: readonly (string | number)[]): Span | undefined {
  let node: unknown = document.contents
  let start = isNode(node) ? node.range?.[0] : undefined
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && item.key.value === segment)
      if (pair === undefined) return undefined
      start = isNode(pair.key) ? pair.key.range?.[1] : undefined
      node = pair.value
    } else if (isSeq(node) && typeof segment === 'number' && segment < node.items.length) {
      const previous: unknown = node.items[segment - 1]
      start = segment === 0 ? node.range?.[0] : isNode(previous) ? previous.range?.[1] : undefined
      node = node.items[segment]
    } else {
      return undefined
    }
  }
  const end = isNode(node) ? node.range?.[1] : undefined
  return start === undefined || end === undefined ? undefined : [start, end]
}

/**
 * How a problem line names where a secret's value came from, after what was found: `from
 * ${SESSION_SECRET}, which is empty or unset`. Names only; the value is never shown.
 */
export function fromVariables(origin: VariableOrigin): string {
  const named = (name: string) => `\${${name}}`
  const sources = list(origin.map((variable) => variable.defaulted ? `the default of ${named(variable.name)}` : named(variable.name)))
  const unset = [...new Set(origin.filter((variable) => variable.unset).map((variable) => variable.name))]
  const verb = unset.length === 1 ? 'is' : 'are'
  if (unset.length === 0) return `from ${sources}`
  if (unset.length === origin.length && origin.every((variable) => !variable.defaulted)) return `from ${sources}, which ${verb} empty or unset`
  return `from ${sources}; ${list(unset.map(named))} ${verb} empty or unset`
}

function list(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1) ?? ''}`
}
