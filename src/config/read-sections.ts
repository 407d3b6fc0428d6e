/** Readers for the small top-level sections: listen, publicUrl, trustProxy, tokens, timeouts, login, metrics, admin. */
import type { Config, HostPort } from './types.ts'
import { readHttpUrl } from './urls.ts'
import {
  gotNothing, isAbsent, isMapping, keyPath, mismatch, type Problems, readDuration, readInteger, readMapping, readSecret, readString, required,
} from './validate.ts'
import type { OriginOf } from './variable-origin.ts'

const MAX_PORT = 65_535
// More front proxies than this in one chain is a misreading of the setting, not a deployment.
const MAX_PROXY_HOPS = 10

/** The keys of `listen`, `metrics.listen` and `admin.listen`. */
export const HOST_PORT_KEYS: readonly string[] = ['host', 'port']
/** The keys of `tokens`, `timeouts`, `login` and `metrics`. */
export const TOKENS_KEYS: readonly string[] = ['refreshBefore']
export const TIMEOUTS_KEYS: readonly string[] = ['idp', 'upstreamConnect', 'upstream']
export const LOGIN_KEYS: readonly string[] = ['ratePerMinute']
export const METRICS_KEYS: readonly string[] = ['listen']
export const ADMIN_KEYS: readonly string[] = ['listen', 'token']

/** Shorter admin tokens are guessable. */
const MIN_ADMIN_TOKEN_LENGTH = 32

/** A `{ host, port }` mapping; port 0 asks the OS for a free port (tests). */
export function readHostPort(problems: Problems, path: string, value: unknown, fallback: { host: string; port?: number }): HostPort {
  const listen = readMapping(problems, path, value, HOST_PORT_KEYS)
  const portPath = keyPath(path, 'port')
  // A port is required only where the mapping itself is fine; otherwise one line says it all.
  if (fallback.port === undefined && isMapping(value) && isAbsent(listen.port)) problems.push(required(portPath, `an integer from 0 to ${MAX_PORT}`))
  return {
    host: readString(problems, keyPath(path, 'host'), listen.host, fallback.host),
    port: readInteger(problems, portPath, listen.port, fallback.port ?? 0, 0, MAX_PORT),
  }
}

/** The origin the browser sees, without a trailing slash; `undefined` when missing or wrong. */
export function readPublicUrl(problems: Problems, value: unknown): string | undefined {
  return readHttpUrl(problems, 'publicUrl', value, { path: false, query: false })?.origin
}

/** `true`, `false` or a hop count, as the number of trusted front proxies (Config.trustProxy). */
export function readTrustProxy(problems: Problems, value: unknown): number {
  // default: false (0); without a front proxy, X-Forwarded-* would come from the client itself
  if (isAbsent(value) || value === false) return 0
  if (value === true) return 1
  // `+ 0` turns a YAML -0 into 0.
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_PROXY_HOPS) return value + 0
  problems.push(mismatch('trustProxy', `true, false or a number of proxies from 0 to ${MAX_PROXY_HOPS}`, value))
  return 0
}

export function readTokens(problems: Problems, value: unknown): Config['tokens'] {
  const tokens = readMapping(problems, 'tokens', value, TOKENS_KEYS)
  // default: 30s, enough for a request to reach the upstream before the token lapses
  return { refreshBefore: readDuration(problems, 'tokens.refreshBefore', tokens.refreshBefore, 30, false) }
}

export function readTimeouts(problems: Problems, value: unknown): Config['timeouts'] {
  const timeouts = readMapping(problems, 'timeouts', value, TIMEOUTS_KEYS)
  return {
    // default: 10s for any call to the issuer
    idp: readDuration(problems, 'timeouts.idp', timeouts.idp, 10, true),
    // default: 5s to connect to a route's target
    upstreamConnect: readDuration(problems, 'timeouts.upstreamConnect', timeouts.upstreamConnect, 5, true),
    // default: 60s for a route's target to answer
    upstream: readDuration(problems, 'timeouts.upstream', timeouts.upstream, 60, true),
  }
}

export function readLogin(problems: Problems, value: unknown): Config['login'] {
  const login = readMapping(problems, 'login', value, LOGIN_KEYS)
  // default: 60 logins a minute per client address, one a second
  return { ratePerMinute: readInteger(problems, 'login.ratePerMinute', login.ratePerMinute, 60, 1, Number.MAX_SAFE_INTEGER) }
}

export function readMetrics(problems: Problems, value: unknown, listen: HostPort): Config['metrics'] {
  const metrics = readMapping(problems, 'metrics', value, METRICS_KEYS)
  // default: null, no metrics endpoint
  return { listen: readSideListener(problems, 'metrics.listen', metrics.listen, [['listen.port', listen]]) }
}

/** `admin`: its own listener, off by default; its token required (and long) when it is on. */
export function readAdmin(problems: Problems, value: unknown, listen: HostPort, metrics: HostPort | null, origins: OriginOf): Config['admin'] {
  const admin = readMapping(problems, 'admin', value, ADMIN_KEYS)
  const others: Array<[string, HostPort]> = [['listen.port', listen], ...(metrics === null ? [] : [['metrics.listen.port', metrics] as [string, HostPort]])]
  // default: null, no admin API
  const address = readSideListener(problems, 'admin.listen', admin.listen, others)
  const origin = origins(['admin', 'token'])
  const token = readSecret(problems, 'admin.token', admin.token, MIN_ADMIN_TOKEN_LENGTH, origin)
  if (address === null) return { listen: null, token: undefined }
  if (isAbsent(admin.token)) problems.push(`${required('admin.token', `a string of at least ${MIN_ADMIN_TOKEN_LENGTH} characters, when admin.listen is set`)}${gotNothing(origin)}`)
  return { listen: address, token }
}

/**
 * A listener beside the public one (metrics, admin): null when absent; loopback unless a host is
 * given, so leaving the host out publishes nothing to the world; never on a port another one has.
 */
function readSideListener(problems: Problems, path: string, value: unknown, others: ReadonlyArray<readonly [string, HostPort]>): HostPort | null {
  if (isAbsent(value)) return null
  const address = readHostPort(problems, path, value, { host: '127.0.0.1' })
  for (const [otherPath, other] of others) {
    const sameHost = address.host === other.host || address.host === '0.0.0.0' || other.host === '0.0.0.0'
    if (address.port !== 0 && address.port === other.port && sameHost) {
      problems.push(`${path}.port: must differ from ${otherPath} (both are ${address.port})`)
    }
  }
  return address
}
