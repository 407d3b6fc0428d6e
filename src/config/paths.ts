import { describe, isAbsent, type Problems, required } from './validate.ts'

// RFC 3986 path characters, without "?" and "#" (they end a path) and without "\" (which browsers
// and some proxies read as "/").
const PATH_CHARACTERS = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/

/**
 * A required URL path such as "/api": starts with "/", no "//", no "." or ".." segment, no query or
 * fragment. Such a path matches one way in every component that compares it.
 */
export function readPlainPath(problems: Problems, path: string, value: unknown): string | undefined {
  const expected = 'a path starting with "/"'
  if (isAbsent(value)) {
    problems.push(required(path, expected))
    return undefined
  }
  if (typeof value !== 'string' || !value.startsWith('/')) {
    problems.push(`${path}: must be ${expected} (got ${describe(value)})`)
    return undefined
  }
  const dotSegment = value.split('/').some((segment) => segment === '.' || segment === '..')
  if (!PATH_CHARACTERS.test(value) || value.includes('//') || dotSegment) {
    problems.push(`${path}: must be a plain path, without "..", "//", "?", "#" or spaces (got ${describe(value)})`)
    return undefined
  }
  return value
}

/** Whether a route prefix matches a path on a segment boundary: "/api" matches "/api" and "/api/x", not "/apix". */
export function matchesPrefix(prefix: string, path: string): boolean {
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`)
}
