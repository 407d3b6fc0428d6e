import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'

/** Hop-by-hop headers (RFC 9110 §7.6.1, plus the de facto Keep-Alive and Proxy-Connection): never forwarded either way. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-connection']

/** Forwarding headers a client could forge; believed only from trusted front proxies. */
const CLIENT_FORWARDING = ['forwarded', 'x-real-ip']

/**
 * Removes the hop-by-hop headers and every header the Connection header names (RFC 9110 §7.6.1):
 * otherwise a client's `Connection: X-Forwarded-For` makes a compliant proxy behind us drop the
 * headers we set. A WebSocket handshake keeps its `Connection: upgrade` and `Upgrade`.
 */
export function dropHopByHop(headers: IncomingHttpHeaders, websocket = false): void {
  const connection = headers['connection']
  if (connection !== undefined) {
    for (const name of String(connection).split(',')) delete headers[name.trim().toLowerCase()]
  }
  for (const name of HOP_BY_HOP) delete headers[name]
  if (websocket) {
    headers['connection'] = 'upgrade'
    headers['upgrade'] = 'websocket'
  }
}

export interface ForwardingContext {
  /** How many front proxies are trusted (trustProxy); 0: none. */
  readonly trustedHops: number
  /** The socket's peer address. */
  readonly remoteAddress: string
  /** publicUrl's protocol ("https") and host, used unless a trusted proxy says otherwise. */
  readonly proto: string
  readonly host: string
}

/**
 * Sets X-Forwarded-For/Proto/Host. Behind `trustedHops` front proxies, the last that many
 * X-Forwarded-For entries (the ones those proxies added) are kept and the front proxy's Proto and
 * Host pass on; entries left of them are whatever the client sent, and are dropped. Without a
 * trusted proxy every forwarding header of the client is dropped.
 */
export function setForwarding(headers: IncomingHttpHeaders, context: ForwardingContext): void {
  const trusted = context.trustedHops > 0
  const vouched = trusted ? lastEntries(headers['x-forwarded-for'], context.trustedHops) : []
  const proto = trusted ? firstEntry(headers['x-forwarded-proto']) : undefined
  const host = trusted ? firstEntry(headers['x-forwarded-host']) : undefined
  for (const name in headers) {
    if (name.startsWith('x-forwarded-') || CLIENT_FORWARDING.includes(name)) delete headers[name]
  }
  headers['x-forwarded-for'] = [...vouched, context.remoteAddress].join(', ')
  headers['x-forwarded-proto'] = proto ?? context.proto
  headers['x-forwarded-host'] = host ?? context.host
}

/**
 * The client's address behind `trustedHops` front proxies, as Koa's `ctx.ip` gives it for HTTP: the
 * entry the outermost trusted proxy added (the nth from the right), or the socket's peer.
 */
export function clientAddress(forwardedFor: string | string[] | undefined, remoteAddress: string, trustedHops: number): string {
  return trustedHops === 0 ? remoteAddress : lastEntries(forwardedFor, trustedHops)[0] ?? remoteAddress
}

function entries(value: string | string[] | undefined): string[] {
  return (Array.isArray(value) ? value.join(',') : value ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
}

function lastEntries(value: string | string[] | undefined, count: number): string[] {
  return entries(value).slice(-count)
}

function firstEntry(value: string | string[] | undefined): string | undefined {
  const [first] = entries(value)
  return first !== undefined && /^[\w.:[\]-]+$/.test(first) ? first : undefined
}

/**
 * The target's response headers as the browser may see them: no hop-by-hop header, and no
 * `Set-Cookie` for one of our own cookie names (a target, the SPA's host say, must not be able to
 * swap the user's session or plant a login binding).
 */
export function responseHeaders(headers: IncomingHttpHeaders, isOwnCookie: (name: string) => boolean): OutgoingHttpHeaders {
  const copy: IncomingHttpHeaders = { ...headers }
  dropHopByHop(copy)
  const cookies = copy['set-cookie']?.filter((line) => !isOwnCookie(cookieName(line)))
  if (cookies === undefined || cookies.length === 0) delete copy['set-cookie']
  else copy['set-cookie'] = cookies
  return copy
}

/**
 * The name of a Set-Cookie line as far as our cookies go: up to the first "=" (RFC 6265 §5.2); a
 * line without one is a nameless cookie that browsers send as its bare value, so the value counts.
 */
function cookieName(line: string): string {
  const pair = line.split(';', 1)[0] ?? ''
  const eq = pair.indexOf('=')
  return (eq < 0 ? pair : pair.slice(0, eq)).trim()
}

/** True for a `WWW-Authenticate` that refuses a Bearer token as invalid (RFC 6750 §3.1). */
export function isInvalidTokenChallenge(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(', ') : header ?? ''
  return /\bBearer\b[^]*?\berror\s*=\s*"?invalid_token"?/i.test(text)
}
