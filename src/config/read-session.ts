import { formatDuration } from './duration.ts'
import type { SessionConfig } from './types.ts'
import {
  describe, describeKind, gotNothing, isAbsent, isToken, itemPath, type Problems, readChoice, readDuration, readMapping,
  readSecret, readString, required,
} from './validate.ts'
import { fromVariables, NO_ORIGINS, type OriginOf } from './variable-origin.ts'

/** The keys of `session`. */
export const SESSION_KEYS: readonly string[] = ['cookieName', 'secrets', 'sameSite', 'idleTimeout', 'absoluteTimeout']
const SAME_SITE: readonly SessionConfig['sameSite'][] = ['lax', 'strict']
// iron-session seals with a key derived from the secret; shorter ones are guessable offline.
const MIN_SECRET_LENGTH = 32
// Prefixes browsers honour only on cookies set over https (RFC 6265bis §4.1.3), matched case-insensitively.
const SECURE_PREFIX = /^__(Host|Secure)-/i

/**
 * Reads `session`; the cookie name's secure prefix is dropped when `publicUrl` is plain http. `origins`
 * names the `${NAME}` variables a wrong secret came from.
 */
export function readSession(problems: Problems, value: unknown, publicUrl: string | undefined, origins: OriginOf = NO_ORIGINS): SessionConfig {
  const session = readMapping(problems, 'session', value, SESSION_KEYS)
  const cookieName = readCookieName(problems, session.cookieName, publicUrl?.startsWith('http:') === true)
  const secrets = readSecrets(problems, session.secrets, origins)
  // default: lax, so the top-level navigation back from the IdP carries the cookie
  const sameSite = readChoice(problems, 'session.sameSite', session.sameSite, SAME_SITE, 'lax')
  // default: 30m without a request ends the session
  const idleTimeout = readDuration(problems, 'session.idleTimeout', session.idleTimeout, 30 * 60, true)
  // default: 12h after login at most, whatever the activity
  const absoluteTimeout = readDuration(problems, 'session.absoluteTimeout', session.absoluteTimeout, 12 * 3600, true)
  if (idleTimeout > absoluteTimeout) {
    problems.push(
      `session.idleTimeout: must not exceed session.absoluteTimeout (got ${formatDuration(idleTimeout)}, more than ${formatDuration(absoluteTimeout)})`,
    )
  }
  return { cookieName, secrets, sameSite, idleTimeout, absoluteTimeout }
}

function readCookieName(problems: Problems, value: unknown, plainHttp: boolean): string {
  // default: __Host- makes the browser refuse the cookie unless it is Secure, Path=/ and host-only
  const written = readString(problems, 'session.cookieName', value, '__Host-cloakroom')
  // A browser drops a prefixed cookie set without Secure, which http cannot give: no session at all.
  const name = plainHttp ? written.replace(SECURE_PREFIX, '') : written
  if (!isToken(name)) {
    const dropped = name === written ? '' : ', after dropping its __Host-/__Secure- prefix for an http publicUrl'
    problems.push(
      `session.cookieName: must be a cookie name of letters, digits and !#$%&'*+-.^_\`|~${dropped} (got ${describe(written)})`,
    )
  }
  return name
}

function readSecrets(problems: Problems, value: unknown, origins: OriginOf): readonly string[] {
  const expected = `a list of secrets of at least ${MIN_SECRET_LENGTH} characters`
  const origin = origins(['session', 'secrets'])
  const from = origin === undefined ? '' : ` ${fromVariables(origin)}`
  if (isAbsent(value)) {
    problems.push(required('session.secrets', `${expected}${gotNothing(origin)}`))
    return []
  }
  // Never `describe` here: a single secret written without the list brackets must not be echoed.
  if (!Array.isArray(value)) {
    problems.push(`session.secrets: must be ${expected} (got ${describeKind(value)}${from})`)
    return []
  }
  const list: readonly unknown[] = value
  if (list.length === 0) problems.push(`session.secrets: must list at least one secret (got an empty list${from})`)
  const secrets: string[] = []
  list.forEach((item, index) => {
    const path = itemPath('session.secrets', index)
    const itemOrigin = origins(['session', 'secrets', index])
    if (isAbsent(item)) {
      const itemFrom = itemOrigin === undefined ? '' : ` ${fromVariables(itemOrigin)}`
      problems.push(`${path}: must be a string of at least ${MIN_SECRET_LENGTH} characters (got nothing${itemFrom})`)
    }
    const secret = readSecret(problems, path, item, MIN_SECRET_LENGTH, itemOrigin)
    if (secret !== undefined) secrets.push(secret)
  })
  return secrets
}
