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

export interface SessionRecord {
  /** Our session id: random, 256 bits, base64url. Only ever reaches the browser sealed. */
  readonly id: string
  readonly sub: string
  /** The ID token's claims. */
  readonly claims: Readonly<Record<string, unknown>>
  /** The IdP's session id (`sid` claim), for back-channel logout. */
  readonly idpSid: string | undefined
  readonly tokens: TokenSet
  readonly createdAt: EpochSeconds
  readonly absoluteExpiresAt: EpochSeconds
  readonly idleExpiresAt: EpochSeconds
  /** Bumped by every successful update; compare-and-set guards concurrent writers. */
  readonly version: number
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
}

export type LockAttempt = { readonly token: string } | { readonly token: undefined; readonly failed: boolean }

/**
 * Where sessions and pending logins live. Every implementation passes `store-contract.ts`.
 * Failures to reach the backing service are thrown as CloakroomError('store_unavailable').
 */
export interface SessionStore {
  readonly kind: string
  /** Stores a pending login; it disappears by itself after `ttl` seconds. */
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
  deleteSession(id: string): Promise<void>
  /**
   * Ids of the sessions created for an IdP subject or an IdP session id (back-channel logout).
   * Kept until the newest such session's absolute expiry; may name sessions that already ended.
   */
  sessionsOf(by: { readonly sub: string } | { readonly idpSid: string }): Promise<string[]>
  /**
   * Takes the named lock for `ttlMs` milliseconds if it is free: returns the holder's random token.
   * Otherwise no token, and `failed` when the last holder released it as failed (see releaseLock).
   * The lock frees itself after `ttlMs` (a dead holder).
   */
  acquireLock(name: string, ttlMs: number): Promise<LockAttempt>
  /**
   * Releases the lock if `token` still holds it (compare-and-delete: never someone else's). With
   * `failedForMs`, leaves a failure marker for that long instead: whoever asks meanwhile learns the
   * attempt failed, rather than repeating it at once.
   */
  releaseLock(name: string, token: string, failedForMs?: number): Promise<void>
  /** Throws unless the backing service answers. */
  ping(): Promise<void>
  close(): Promise<void>
}
