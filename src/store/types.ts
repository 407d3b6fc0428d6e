import { createHash } from 'node:crypto'
import type { SessionEvent, SessionEventListener } from './session-events.ts'

/** Epoch seconds. */
export type EpochSeconds = number

/** The tokens kept for a session. Never leaves the server, stored encrypted by the Redis store. */
export interface TokenSet {
  readonly accessToken: string
  /** When the access token expires (epoch seconds), if the issuer said. */
  readonly accessTokenExpiresAt: EpochSeconds | undefined
  readonly refreshToken: string | undefined
  readonly idToken: string
  readonly tokenType: string
  readonly scope: string | undefined
}

/** A session's DPoP key pair (RFC 9449): the private P-256 key as a JWK (its public half is x and y). */
export interface DpopKey {
  readonly kty: 'EC'
  readonly crv: 'P-256'
  readonly x: string
  readonly y: string
  readonly d: string
}

/** An access token issued for one resource (RFC 8707), obtained with the session's refresh token. */
export interface ResourceToken {
  readonly accessToken: string
  readonly accessTokenExpiresAt: EpochSeconds | undefined
  readonly tokenType: string
  readonly scope: string | undefined
}

export interface SessionRecord {
  /** Our session id: random, 256 bits, base64url. Only ever reaches the browser sealed. */
  readonly id: string
  readonly sub: string
  /** The ID token's claims. */
  readonly claims: Readonly<Record<string, unknown>>
  /** The IdP's session id (`sid` claim), for back-channel logout. */
  readonly idpSid: string | undefined
  readonly tokens: TokenSet
  /** With oidc.dpop: the key its tokens are bound to, and its proofs signed with. */
  readonly dpopKey?: DpopKey
  /** Access tokens for the routes with a `resource`, by resource; absent until one is fetched. */
  readonly resourceTokens?: Readonly<Record<string, ResourceToken>>
  readonly createdAt: EpochSeconds
  /** The last activity that slid the idle timeout (so written at most once a minute). */
  readonly lastSeenAt: EpochSeconds
  /** A short name of the browser that logged in ("Firefox on Linux"), for the session list. */
  readonly userAgent: string | undefined
  readonly absoluteExpiresAt: EpochSeconds
  readonly idleExpiresAt: EpochSeconds
  /** Bumped by every successful update; compare-and-set guards concurrent writers. */
  readonly version: number
}

/** What the store indexes sessions by. */
export type IndexKey = { readonly sub: string } | { readonly idpSid: string } | { readonly sid: string }

/** The keys a session is indexed under. */
export function indexKeysOf(session: SessionRecord): IndexKey[] {
  return [{ sub: session.sub }, { sid: publicSessionId(session.id) }, ...(session.idpSid === undefined ? [] : [{ idpSid: session.idpSid }])]
}

/**
 * The session id as shown to the SPA (`session.sid` of /auth/user, the `sid` of GET /auth/logout and
 * of the session list). A one-way derivation, so the value JavaScript can read is not the key the
 * store uses.
 */
export function publicSessionId(sessionId: string): string {
  return createHash('sha256').update(`cloakroom public sid\0${sessionId}`).digest('base64url').slice(0, 32)
}

/** When a session stops being valid: the earlier of its two deadlines. */
export function sessionDeadline(session: SessionRecord): EpochSeconds {
  return Math.min(session.idleExpiresAt, session.absoluteExpiresAt)
}

/** A login in flight between /auth/login and /auth/callback, keyed by its `state`. */
export interface PendingLogin {
  readonly codeVerifier: string
  readonly nonce: string
  readonly returnTo: string
  /** SHA-256 of the browser-binding value held in the pending-login cookie. */
  readonly browserBinding: string
  readonly createdAt: EpochSeconds
  /** The `max_age` the login asked for: the ID token's `auth_time` is checked against it. */
  readonly maxAge?: number | undefined
  /** With oidc.dpop: the key the code is bound to (dpop_jkt), then the session's. */
  readonly dpopKey?: DpopKey
}

/**
 * The outcome of acquireLock: the lock taken (its token), or who has it. `holder` names the current
 * attempt without revealing its token, so a waiter can tell "the attempt I waited for failed" from
 * "an attempt that failed before I came".
 */
export type LockAttempt =
  | { readonly token: string }
  | { readonly token: undefined; readonly holder: string; readonly failed: boolean }

/** How a fenced or compare-and-set update went. */
export type UpdateOutcome = 'updated' | 'conflict' | 'fenced'

/**
 * The name of the lock that elects a session's refresher. Its braces are a Redis Cluster hash tag:
 * the lock lives in the session's slot, so an update fenced by it is one atomic script.
 */
export function refreshLockName(sessionId: string): string {
  return `refresh:{${sessionId}}`
}

/**
 * Where sessions and pending logins live. Every implementation passes `store-contract.ts`.
 * Failures to reach the backing service are thrown as CloakroomError('store_unavailable').
 */
export interface SessionStore {
  readonly kind: string
  /**
   * Stores a pending login; it disappears by itself after `ttl` seconds. Throws rate_limited when
   * the store already holds its bound of pending logins (a flood of logins nobody finishes).
   */
  putPendingLogin(state: string, login: PendingLogin, ttl: number): Promise<void>
  /** Returns and deletes a pending login atomically: a state is good for one callback only. */
  takePendingLogin(state: string): Promise<PendingLogin | undefined>
  /** Stores a new session; it disappears by itself at min(idleExpiresAt, absoluteExpiresAt). */
  createSession(session: SessionRecord): Promise<void>
  getSession(id: string): Promise<SessionRecord | undefined>
  /**
   * Replaces the session if its stored version is still `session.version - 1`.
   * Returns false, writing nothing, when someone else updated (or deleted) it first.
   */
  updateSession(session: SessionRecord): Promise<boolean>
  /**
   * updateSession, but only while `refreshLockName(session.id)` is held by `lockToken` (a fencing
   * token): a refresher whose lock expired and was taken by another never overwrites its result.
   * 'fenced' when the lock is not ours, 'conflict' when the version moved (or the session is gone).
   */
  updateSessionFenced(session: SessionRecord, lockToken: string): Promise<UpdateOutcome>
  deleteSession(id: string): Promise<void>
  /**
   * Ids of the sessions created for an IdP subject or an IdP session id (back-channel logout), or
   * the one whose public sid (publicSessionId) this is (the admin API). Kept until the newest such
   * session's absolute expiry; may name sessions that already ended.
   */
  sessionsOf(by: IndexKey): Promise<string[]>
  /**
   * Takes the named lock for `ttlMs` milliseconds if it is free: returns the holder's random token.
   * Otherwise no token, the current attempt's `holder` id, and `failed` when that attempt was
   * released as failed (see releaseLock). A failure marker is reported only to a caller that names
   * the failed attempt in `waitedFor`, i.e. one that was waiting for it; anyone else takes the lock
   * over and tries again. The lock frees itself after `ttlMs` (a dead holder).
   */
  acquireLock(name: string, ttlMs: number, waitedFor?: string): Promise<LockAttempt>
  /**
   * Keeps holding a lock for another `ttlMs`: true if `token` holds it (or it had expired and was
   * free, and `token` now holds it again), false when another holder has it.
   */
  extendLock(name: string, token: string, ttlMs: number): Promise<boolean>
  /**
   * Releases the lock if `token` still holds it (compare-and-delete: never someone else's). With
   * `failedForMs`, leaves a failure marker for that long instead: whoever asks meanwhile learns the
   * attempt failed, rather than repeating it at once.
   */
  releaseLock(name: string, token: string, failedForMs?: number): Promise<void>
  /** Remembers `name` for `ttlMs` milliseconds (used-once tokens, such as a logout token's jti). */
  putMarker(name: string, ttlMs: number): Promise<void>
  /** True while `name` is remembered. */
  hasMarker(name: string): Promise<boolean>
  /**
   * Tells every subscriber of the session, on every instance sharing the store (this one too), of
   * `event`. Best effort: a subscriber that is disconnected at that moment misses it.
   */
  publish(sessionId: string, event: SessionEvent): Promise<void>
  /**
   * Calls `listener` with each event published for the session from now on, until the function it
   * resolves to is called. Resolves once subscribed.
   */
  subscribe(sessionId: string, listener: SessionEventListener): Promise<() => Promise<void>>
  /** Throws unless the backing service answers. */
  ping(): Promise<void>
  close(): Promise<void>
}
