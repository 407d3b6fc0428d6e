import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'

/** Hop-by-hop headers (RFC 9110 §7.6.1, plus the de facto Keep-Alive and Proxy-Connection): never forwarded either way. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-connection']

/** Forwarding headers a client could forge; believed only from trusted front proxies. */
const CLIENT_FORWARDING = ['forwarded', 'x-real-ip']

/**
 * The names a Connection header lists, lower-cased (RFC 9110 §7.6.1): hop-by-hop too, or a client's
 * `Connection: X-Forwarded-For` would make a compliant proxy behind us drop the headers we set.
 */
function connectionNames(value: string | string[] | undefined): ReadonlySet<string> {
  if (value === undefined) return NO_NAMES
  if (value === 'keep-alive') return KEEP_ALIVE
  const names = new Set<string>()
  for (const name of String(value).split(',')) names.add(name.trim().toLowerCase())
  return names
}
// What almost every request and answer carries, shared rather than built per message.
const NO_NAMES: ReadonlySet<string> = new Set()
const KEEP_ALIVE: ReadonlySet<string> = new Set(['keep-alive'])

const isHopByHop = (name: string, named: ReadonlySet<string>) => HOP_BY_HOP.includes(name) || named.has(name)
const isClientForwarding = (name: string) => name.startsWith('x-forwarded-') || CLIENT_FORWARDING.includes(name)

export interface ForwardingContext {
  /** How many front proxies are trusted (trustProxy); 0: none. */
  readonly trustedHops: number
  /** The socket's peer address. */
  readonly remoteAddress: string
  /** publicUrl's protocol ("https") and host, used unless a trusted proxy says otherwise. */
  readonly proto: string
  readonly host: string
}

export interface OutgoingContext extends ForwardingContext {
  /** A WebSocket handshake keeps its `Connection: upgrade` and `Upgrade: websocket`. */
  readonly websocket: boolean
  /** The `Cookie` header as the target may see it (ours removed), or undefined for none. */
  readonly cookie: (header: string | undefined) => string | undefined
}

/**
 * The headers a target gets, built in one pass into a fresh object (deleting from Node's turns it
 * into a slow dictionary):
 * - no hop-by-hop header, nor any header Connection names;
 * - no `Authorization` (a browser never chooses the upstream credential: the caller sets it) and no
 *   `Expect` (Node already answered "100 Continue");
 * - `Cookie` as `context.cookie` leaves it;
 * - a body Node de-chunked is framed again as chunked, never sent bare;
 * - X-Forwarded-For/Proto/Host: behind `trustedHops` front proxies, the last that many
 *   X-Forwarded-For entries (the ones those proxies added) are kept and the front proxy's Proto and
 *   Host pass on; entries left of them are whatever the client sent, and are dropped. Without a
 *   trusted proxy every forwarding header of the client is dropped.
 */
export function outgoingHeaders(incoming: IncomingHttpHeaders, context: OutgoingContext): IncomingHttpHeaders {
  const named = connectionNames(incoming['connection'])
  const chunked = incoming['transfer-encoding'] !== undefined
  const outgoing: IncomingHttpHeaders = {}
  for (const name in incoming) {
    // authorization and dpop: only Cloakroom's own credentials reach a target.
    if (isHopByHop(name, named) || isClientForwarding(name) || name === 'authorization' || name === 'dpop' || name === 'expect' || name === 'cookie') continue
    if (chunked && name === 'content-length') continue
    outgoing[name] = incoming[name]
  }
  if (chunked) outgoing['transfer-encoding'] = 'chunked'
  if (context.websocket) {
    outgoing['connection'] = 'upgrade'
    outgoing['upgrade'] = 'websocket'
  }
  const cookie = context.cookie(incoming['cookie'])
  if (cookie !== undefined) outgoing['cookie'] = cookie
  const trusted = context.trustedHops > 0
  const vouched = trusted ? lastEntries(incoming['x-forwarded-for'], context.trustedHops) : []
  outgoing['x-forwarded-for'] = [...vouched, context.remoteAddress].join(', ')
  outgoing['x-forwarded-proto'] = (trusted ? firstEntry(incoming['x-forwarded-proto']) : undefined) ?? context.proto
  outgoing['x-forwarded-host'] = (trusted ? firstEntry(incoming['x-forwarded-host']) : undefined) ?? context.host
  return outgoing
}

/**
 * The client's address behind `trustedHops` front proxies, as Koa's `ctx.ip` gives it for HTTP: the
 * entry the outermost trusted proxy added (the nth from the right), or the socket's peer.
 */
export function clientAddress(forwardedFor: string | string[] | undefined, remoteAddress: string, trustedHops: number): string {
  return trustedHops === 0 ? remoteAddress : lastEntries(forwardedFor, trustedHops)[0] ?? remoteAddress
}

function entries(value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  if (typeof value === 'string' && !value.includes(',')) {
    const entry = value.trim()
    return entry === '' ? [] : [entry]
  }
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
  const named = connectionNames(headers['connection'])
  const copy: OutgoingHttpHeaders = {}
  for (const name in headers) if (!isHopByHop(name, named) && name !== 'set-cookie') copy[name] = headers[name]
  const cookies = headers['set-cookie']?.filter((line) => !isOwnCookie(cookieName(line)))
  if (cookies !== undefined && cookies.length > 0) copy['set-cookie'] = cookies
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
  return /\b(?:Bearer|DPoP)\b[^]*?\berror\s*=\s*"?invalid_token"?/i.test(text)
}

/** A DPoP resource server's `use_dpop_nonce` challenge (RFC 9449 §9): it wants its DPoP-Nonce in the proof. */
export function isUseDpopNonceChallenge(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(', ') : header ?? ''
  return /\bDPoP\b[^]*?\berror\s*=\s*"?use_dpop_nonce"?/i.test(text)
}
