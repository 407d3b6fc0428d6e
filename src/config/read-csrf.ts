import type { Config } from './types.ts'
import { isToken, mismatch, type Problems, readMapping, readString } from './validate.ts'

// Fetch §2.2.2 CORS-safelisted request-header names: a cross-site page may send these without a
// preflight (with some values), so a CSRF header among them stops nothing.
const SAFELISTED = ['Accept', 'Accept-Language', 'Content-Language', 'Content-Type', 'Range']
// Fetch §2.2.2 forbidden request-header names: fetch() and XMLHttpRequest silently drop them, so the
// SPA could never send the header and every call would be refused.
const FORBIDDEN = [
  'Accept-Charset', 'Accept-Encoding', 'Access-Control-Request-Headers', 'Access-Control-Request-Method',
  'Connection', 'Content-Length', 'Cookie', 'Cookie2', 'Date', 'DNT', 'Expect', 'Host', 'Keep-Alive',
  'Origin', 'Referer', 'Set-Cookie', 'TE', 'Trailer', 'Transfer-Encoding', 'Upgrade', 'Via',
]
const FORBIDDEN_PREFIXES = ['Proxy-', 'Sec-']

/** The keys of `csrf`. */
export const CSRF_KEYS: readonly string[] = ['headerName']

/**
 * Reads `csrf`. The header must be one a browser sends cross-site only after a CORS preflight (which
 * Cloakroom never grants) and one the SPA's JavaScript is allowed to set.
 */
export function readCsrf(problems: Problems, value: unknown): Config['csrf'] {
  const csrf = readMapping(problems, 'csrf', value, CSRF_KEYS)
  // default: X-CSRF; any custom header forces a CORS preflight, which a cross-site page cannot pass
  const headerName = readString(problems, 'csrf.headerName', csrf.headerName, 'X-CSRF')
  if (!isToken(headerName)) {
    problems.push(mismatch('csrf.headerName', 'a header name of letters, digits and !#$%&\'*+-.^_`|~', headerName))
  } else {
    const problem = headerNameProblem(headerName)
    if (problem !== undefined) problems.push(`csrf.headerName: ${problem}`)
  }
  return { headerName }
}

/** Why a (syntactically valid) header name cannot carry the CSRF defence, or `undefined` when it can. */
function headerNameProblem(name: string): string | undefined {
  const lower = name.toLowerCase()
  const listed = (list: readonly string[]) => list.some((entry) => entry.toLowerCase() === lower)
  if (listed(SAFELISTED)) return `must not be a CORS-safelisted header (${name}): browsers send it cross-site without a preflight`
  if (listed(FORBIDDEN)) return `must not be a forbidden request header (${name}): browsers do not let JavaScript set it`
  const prefix = FORBIDDEN_PREFIXES.find((entry) => lower.startsWith(entry.toLowerCase()))
  if (prefix !== undefined) return `must not start with ${prefix} (${name}): browsers do not let JavaScript set such headers`
  // The proxy removes the browser's Authorization and sends the session's access token instead.
  if (lower === 'authorization') return `must not be Authorization (${name}): Cloakroom strips it before forwarding`
  return undefined
}
