import { sessionDeadline, type DpopKey, type ResourceToken, type SessionRecord, type TokenSet } from '../store/index.ts'

/** Session timing rules, pure. Times are epoch seconds. */
export interface SessionTimeouts { readonly idleTimeout: number; readonly absoluteTimeout: number }

export function newSessionRecord(
  fields: { id: string; sub: string; claims: Readonly<Record<string, unknown>>; tokens: TokenSet; userAgent?: string | undefined; dpopKey?: DpopKey },
  timeouts: SessionTimeouts,
  now: number,
): SessionRecord {
  const absoluteExpiresAt = now + timeouts.absoluteTimeout
  const idpSid = fields.claims['sid']
  return {
    ...fields,
    userAgent: fields.userAgent,
    idpSid: typeof idpSid === 'string' ? idpSid : undefined,
    createdAt: now,
    lastSeenAt: now,
    absoluteExpiresAt,
    idleExpiresAt: Math.min(now + timeouts.idleTimeout, absoluteExpiresAt),
    version: 1,
  }
}

export function isExpired(session: SessionRecord, now: number): boolean {
  return now >= sessionDeadline(session)
}

/** Which timeout ended a session that isExpired at `now`: the absolute cap when both passed. */
export function expiryReason(session: SessionRecord, now: number): 'idle_timeout' | 'absolute_timeout' {
  return now >= session.absoluteExpiresAt ? 'absolute_timeout' : 'idle_timeout'
}

/** The idle deadline that activity at `now` earns: slides forward, never past the absolute cap. */
export function nextIdleExpiry(session: SessionRecord, timeouts: SessionTimeouts, now: number): number {
  return Math.min(now + timeouts.idleTimeout, session.absoluteExpiresAt)
}

/**
 * Whether activity at `now` is worth a store write. Sliding by less than a tenth of the idle
 * timeout (at most a minute) is skipped, so a burst of API calls costs one write, not one each.
 */
export function shouldTouch(session: SessionRecord, timeouts: SessionTimeouts, now: number): boolean {
  const step = Math.min(60, Math.ceil(timeouts.idleTimeout / 10))
  return nextIdleExpiry(session, timeouts, now) - session.idleExpiresAt >= step
}

/** The session as it is after activity at `now` (the version bump makes the write a compare-and-set). */
export function touched(session: SessionRecord, timeouts: SessionTimeouts, now: number): SessionRecord {
  return { ...session, idleExpiresAt: nextIdleExpiry(session, timeouts, now), lastSeenAt: now, version: session.version + 1 }
}

/** The token a route forwards: its resource's (RFC 8707), or the login's when it names none. */
function tokenFor(session: SessionRecord, resource: string | undefined): Omit<ResourceToken, 'scope'> | undefined {
  return resource === undefined ? session.tokens : session.resourceTokens?.[resource]
}

export function accessTokenFor(session: SessionRecord, resource: string | undefined): string | undefined {
  return tokenFor(session, resource)?.accessToken
}

/** What a route forwards for `session`: its token, the token's type, and the key a DPoP-bound token needs. */
export function credentialsFor(session: SessionRecord | undefined, resource: string | undefined) {
  if (session === undefined) return { accessToken: undefined }
  const token = tokenFor(session, resource)
  return { accessToken: token?.accessToken, tokenType: token?.tokenType, dpopKey: session.dpopKey }
}

/**
 * True when the access token (the login's, or `resource`'s) expires within `refreshBefore` seconds
 * (or already has), or when `resource` has none yet. Without a refresh token there is nothing to
 * refresh with: the access token is used to its very end, and only then is it "due" (and the session over).
 */
export function needsRefresh(session: SessionRecord, refreshBefore: number, now: number, resource?: string): boolean {
  // A resource's token is fetched with the refresh token the first time it is needed.
  const token = tokenFor(session, resource)
  if (token === undefined) return true
  const expiresAt = token.accessTokenExpiresAt
  const margin = session.tokens.refreshToken === undefined ? 0 : refreshBefore
  return expiresAt !== undefined && expiresAt - margin <= now
}
