import { describe, isAbsent, type Problems, required } from './validate.ts'

/** What an http(s) URL field may hold besides scheme, host and port. A fragment is never allowed. */
export interface UrlRules {
  readonly path: boolean
  readonly query: boolean
}

/** Hides the user-info part of a URL (a Redis password, say) before it is shown in a problem line. */
export function redactUrl(value: string): string {
  // Everything before the last "@" may be user info: a password written without percent-encoding can
  // hold "/", "?", "#" or "@" itself, and the scheme may be missing ("user:pw@host"). A path with an
  // "@" is hidden too; showing less is the safe mistake.
  const at = value.lastIndexOf('@')
  if (at === -1) return value
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(value)?.[0] ?? ''
  return `${scheme}***${value.slice(at)}`
}

function urlMismatch(path: string, expected: string, value: unknown): string {
  return `${path}: must be ${expected} (got ${describe(typeof value === 'string' ? redactUrl(value) : value)})`
}

/** The expected form that `value` fails, or `undefined` when it is an acceptable http(s) URL. */
function httpUrlProblem(value: unknown, rules: UrlRules): string | undefined {
  if (typeof value !== 'string' || !URL.canParse(value)) return 'an http(s) URL'
  const url = new URL(value)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'an http(s) URL'
  // Credentials in a URL end up in logs and Referer headers.
  if (url.username !== '' || url.password !== '') return 'an http(s) URL without user name or password'
  // Checked on the text: `https://x/?` parses to an empty search, yet says something was meant.
  if (value.includes('#')) return rules.query ? 'an http(s) URL without a fragment' : 'an http(s) URL without query or fragment'
  if (!rules.query && value.includes('?')) return 'an http(s) URL without query or fragment'
  if (!rules.path && url.pathname !== '/') return 'an http(s) origin without a path (such as "https://app.example.com")'
  return undefined
}

/** A required http(s) URL; `undefined`, with a problem recorded, when missing or wrong. */
export function readHttpUrl(problems: Problems, path: string, value: unknown, rules: UrlRules): URL | undefined {
  if (isAbsent(value)) {
    problems.push(required(path, 'an http(s) URL'))
    return undefined
  }
  const expected = httpUrlProblem(value, rules)
  if (expected === undefined) return new URL(String(value))
  problems.push(urlMismatch(path, expected, value))
  return undefined
}

/** A required redis:// or rediss:// (TLS) URL with a host; `undefined` when missing or wrong. */
export function readRedisUrl(problems: Problems, path: string, value: unknown): string | undefined {
  const expected = 'a redis:// or rediss:// URL'
  if (isAbsent(value)) {
    problems.push(required(path, expected))
    return undefined
  }
  if (typeof value === 'string' && URL.canParse(value)) {
    const url = new URL(value)
    if ((url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '') return value
  }
  problems.push(urlMismatch(path, expected, value))
  return undefined
}
