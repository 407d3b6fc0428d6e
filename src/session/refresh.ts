import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { CloakroomError } from '../errors.ts'
import type { Refreshed, RefreshGrant } from '../oidc/index.ts'
import { refreshLockName, type SessionRecord, type SessionStore } from '../store/index.ts'
import { accessTokenFor, needsRefresh } from './rules.ts'
import { endSession } from './end-session.ts'

export type RefreshOutcome = 'ok' | 'invalid_grant' | 'unavailable'

export interface TokenRefresherDeps {
  readonly store: SessionStore
  /** The refresh token grant (oidc.refresh): throws session_expired or idp_unavailable. */
  readonly refresh: (grant: RefreshGrant) => Promise<Refreshed>
  /** Runs before the lock is taken (loading the issuer's metadata), so the lock covers only the grant. */
  readonly prepare?: () => Promise<unknown>
  /** Seconds before the access token's expiry at which it is refreshed. */
  readonly refreshBefore: number
  /** How long a holder may keep the refresh lock: above the issuer timeout plus the store calls under it. */
  readonly lockTtlMs: number
  /** Epoch milliseconds. */
  readonly now: () => number
  /** How often a waiter looks for the holder's result (default 50 ms). */
  readonly pollMs?: number
  /**
   * How long a failed attempt stays visible to the callers that were waiting for it (default 250 ms):
   * long enough for each of them, polling every `pollMs`, to see it. Callers that come later try again.
   */
  readonly failureHoldMs?: number
  /** How long rotated tokens the store could not take are retried in the background (default 10 min). */
  readonly keepUnsavedMs?: number
  /** Told of every refresh grant's outcome, with the session it was for. */
  readonly onRefresh?: (outcome: RefreshOutcome, sessionId: string) => void
  /** Told how tokens kept through a store outage ended: stored at last, or lost. */
  readonly onUnsaved?: (outcome: 'stored' | 'lost', sessionId: string) => void
}

/**
 * Every refresh spends the session's one refresh token (and, with rotation, replaces it), whichever
 * token it is for: the login's own (`resource` undefined) or a resource's (RFC 8707). So one lock per
 * session serializes them all, and each kind of token is refreshed at most once at a time.
 */
export interface TokenRefresher {
  /**
   * The session with an access token (the login's, or `resource`'s) that is not about to expire.
   * Refreshes it at most once however many requests (in this process or others sharing the store)
   * ask at the same time.
   */
  fresh(session: SessionRecord, resource?: string): Promise<SessionRecord>
  /**
   * The session with an access token (the login's, or `resource`'s) other than `session`'s, which a
   * target refused as invalid (revoked, keys rotated, an opaque token without expires_in): refreshed
   * once, as `fresh` does.
   */
  replace(session: SessionRecord, resource?: string): Promise<SessionRecord>
}

/**
 * The lock of one token's refresh (the login's, or a resource's): on the session's hash tag, so that a
 * cluster keeps it in the session's slot; a resource by its digest (any URI, of any length).
 */
function tokenLockName(sessionId: string, resource: string | undefined): string {
  return `${refreshLockName(sessionId)}:${resource === undefined ? 'login' : createHash('sha256').update(resource).digest('base64url').slice(0, 22)}`
}

const ended = () => new CloakroomError('session_expired', 'The session has ended; please log in again')
const isStoreDown = (error: unknown) => error instanceof CloakroomError && error.code === 'store_unavailable'

/** Someone refreshed the token (the login's, or `resource`'s) since `seen` was read: it was replaced. */
function refreshedSince(seen: SessionRecord, latest: SessionRecord, resource: string | undefined): boolean {
  return accessTokenFor(latest, resource) !== accessTokenFor(seen, resource)
}

/**
 * The session as it is after a grant: the new access token (the login's, or `resource`'s), the
 * rotated refresh token, the ID token and claims kept where none came.
 */
function withTokens(base: SessionRecord, { tokens, claims }: Refreshed, resource: string | undefined): SessionRecord {
  const idToken = tokens.idToken ?? base.tokens.idToken
  if (resource === undefined) return { ...base, tokens: { ...tokens, idToken }, claims: claims ?? base.claims, version: base.version + 1 }
  const { accessToken, accessTokenExpiresAt, tokenType, scope } = tokens
  return {
    ...base,
    tokens: { ...base.tokens, refreshToken: tokens.refreshToken, idToken },
    resourceTokens: { ...base.resourceTokens, [resource]: { accessToken, accessTokenExpiresAt, tokenType, scope } },
    claims: claims ?? base.claims,
    version: base.version + 1,
  }
}

/**
 * Single-flight refresh. In-process, concurrent callers share one promise per session. Across
 * processes, a store lock elects one refresher; the others poll the store until the session holds
 * new tokens (or the lock frees, if the holder died, and one of them takes over; or the attempt they
 * waited for failed, and they answer idp_unavailable without calling the issuer themselves). A
 * strict IdP revokes the whole grant when a used refresh token comes back, so spending one twice
 * would log the user out: hence re-reading under the lock, before calling the issuer, and writing the
 * rotated tokens only while still holding the lock (fenced), keeping it until they are stored.
 */
export function createTokenRefresher(deps: TokenRefresherDeps): TokenRefresher {
  const { store, refreshBefore, lockTtlMs, now, pollMs = 50, failureHoldMs = 250, keepUnsavedMs = 600_000 } = deps
  const inFlight = new Map<string, Promise<SessionRecord>>()
  const dueFor = (resource: string | undefined) => (session: SessionRecord) => needsRefresh(session, refreshBefore, Math.floor(now() / 1000), resource)

  /**
   * Refreshes `resource`'s token (or the login's) unless someone did since `seen`, or `stale` says
   * the latest record needs none. Two locks: the token's own (one refresh of each token at a time;
   * its waiters share its failure) and then the session's (one grant at a time spends the refresh
   * token; its waiters wait their turn, whatever another token's grant did).
   */
  async function refreshAcrossInstances(seen: SessionRecord, resource: string | undefined, stale: (latest: SessionRecord) => boolean): Promise<SessionRecord> {
    await deps.prepare?.()
    const lock = tokenLockName(seen.id, resource)
    // A live holder finishes within its turns at the session lock; a dead one's lock expires and is taken over.
    const deadline = now() + 3 * lockTtlMs + 10 * pollMs
    let waitedFor: string | undefined
    for (;;) {
      const latest = await store.getSession(seen.id)
      if (latest === undefined) throw ended()
      if (refreshedSince(seen, latest, resource) || !stale(latest)) return latest
      const attempt = await store.acquireLock(lock, lockTtlMs, waitedFor)
      if (attempt.token !== undefined) return refreshHoldingTokenLock(seen, resource, stale, lock, attempt.token)
      if (attempt.failed) throw new CloakroomError('idp_unavailable', 'The identity provider is unavailable')
      waitedFor = attempt.holder
      if (now() > deadline) throw new CloakroomError('idp_unavailable', 'Timed out waiting for a token refresh')
      await sleep(pollMs)
    }
  }

  /** Holding the token's lock: waits for the session's, refreshes, and releases the token's lock (marked failed if it failed). */
  async function refreshHoldingTokenLock(seen: SessionRecord, resource: string | undefined, stale: (latest: SessionRecord) => boolean, lock: string, token: string): Promise<SessionRecord> {
    let failed = false
    try {
      const sessionLock = refreshLockName(seen.id)
      // Other tokens' grants come first, each within the lock's lifetime.
      const giveUpAt = now() + 2 * lockTtlMs + 10 * pollMs
      for (;;) {
        // The lock is ours from before we asked, not from when the answer came.
        const askedAt = now()
        const attempt = await store.acquireLock(sessionLock, lockTtlMs)
        if (attempt.token !== undefined) return await refreshHoldingLock(seen, resource, stale, attempt.token, askedAt + lockTtlMs)
        if (now() > giveUpAt) throw new CloakroomError('idp_unavailable', 'Timed out waiting for a token refresh')
        await sleep(pollMs)
      }
    } catch (error) {
      failed = error instanceof CloakroomError && error.code !== 'session_expired'
      throw error
    } finally {
      await store.releaseLock(lock, token, failed ? failureHoldMs : 0).catch(() => {})
    }
  }

  async function refreshHoldingLock(seen: SessionRecord, resource: string | undefined, stale: (latest: SessionRecord) => boolean, token: string, lockUntil: number): Promise<SessionRecord> {
    const lock = refreshLockName(seen.id)
    let keep = false
    try {
      // Re-read under the lock: the previous holder may have refreshed after our last look.
      const current = await store.getSession(seen.id)
      if (current === undefined) throw ended()
      if (refreshedSince(seen, current, resource) || !stale(current)) return current
      const refreshed = await grant(current, resource)
      try {
        return await retryWhileStoreDown(() => writeTokens(current, refreshed, token, resource), lockUntil)
      } catch (error) {
        if (!isStoreDown(error)) throw error
        // The spent refresh token is gone: keep the lock (so no one presents it again) until the
        // new tokens are stored, rather than hand the session to a refresh that cannot succeed.
        keep = true
        keepUntilStored(current, refreshed, token, resource)
        throw error
      }
    } finally {
      if (!keep) await store.releaseLock(lock, token).catch(() => {})
    }
  }

  async function grant(current: SessionRecord, resource: string | undefined): Promise<Refreshed> {
    const { refreshToken } = current.tokens
    if (refreshToken === undefined && resource !== undefined) {
      // The session itself is fine; only this API's token cannot be had.
      throw new CloakroomError('idp_unavailable', 'The identity provider is unavailable', {
        cause: new Error(`no refresh token to obtain a token for ${resource} with (oidc.scopes needs offline_access)`),
      })
    }
    try {
      if (refreshToken === undefined) throw new CloakroomError('session_expired', 'The session has no refresh token')
      const refreshed = await deps.refresh({ refreshToken, expectedSub: current.sub, resource, dpopKey: current.dpopKey })
      deps.onRefresh?.('ok', current.id)
      return refreshed
    } catch (error) {
      const expired = error instanceof CloakroomError && error.code === 'session_expired'
      if (refreshToken !== undefined) deps.onRefresh?.(expired ? 'invalid_grant' : 'unavailable', current.id)
      // The grant is gone (revoked at the issuer, or expired there): so is the session.
      if (expired) await endSession(store, current.id, 'revoked')
      throw error
    }
  }

  /**
   * Stores the new tokens (the rotated refresh token above all) before anyone uses them: a
   * compare-and-set on the version, fenced by our lock token. A conflict from an idle-timeout touch
   * is retried on the newer record. A record whose tokens changed means our write landed (its answer
   * lost) or another refresh won: either way those tokens stand.
   */
  async function writeTokens(current: SessionRecord, refreshed: Refreshed, token: string, resource: string | undefined): Promise<SessionRecord> {
    let base = current
    for (let attempt = 0; attempt < 10; attempt++) {
      const next = withTokens(base, refreshed, resource)
      const outcome = await store.updateSessionFenced(next, token)
      if (outcome === 'updated') return next
      const latest = await store.getSession(current.id)
      if (latest === undefined) throw ended()
      if (refreshedSince(current, latest, resource)) return latest
      // Our lock expired and another holder has it: its refresh, not our write, decides.
      if (outcome === 'fenced') throw new CloakroomError('idp_unavailable', 'Lost the refresh lock to another instance')
      base = latest
    }
    throw new CloakroomError('store_unavailable', 'Could not store the refreshed tokens')
  }

  async function retryWhileStoreDown<T>(operation: () => Promise<T>, until: number): Promise<T> {
    for (let backoff = 100; ; backoff = Math.min(backoff * 2, 1000)) {
      try {
        return await operation()
      } catch (error) {
        if (!isStoreDown(error) || now() + backoff > until) throw error
        await sleep(backoff)
      }
    }
  }

  /** In the background: holds the lock and retries storing the tokens until they land, another holder takes over, or time runs out. */
  function keepUntilStored(current: SessionRecord, refreshed: Refreshed, token: string, resource: string | undefined): void {
    const lock = refreshLockName(current.id)
    const giveUpAt = now() + keepUnsavedMs
    void (async () => {
      // Renewed well within its ttl, so the lock outlives any wait between tries.
      for (let pause = 0; now() < giveUpAt; pause = Math.min(Math.max(2 * pause, 100), lockTtlMs / 3)) {
        await sleep(pause, undefined, { ref: false })
        try {
          if (!(await store.extendLock(lock, token, lockTtlMs))) break
          await writeTokens(current, refreshed, token, resource)
          await store.releaseLock(lock, token)
          deps.onUnsaved?.('stored', current.id)
          return
        } catch (error) {
          if (!isStoreDown(error)) break
        }
      }
      deps.onUnsaved?.('lost', current.id)
    })()
  }

  function singleFlight(session: SessionRecord, resource: string | undefined, stale: (latest: SessionRecord) => boolean): Promise<SessionRecord> {
    const key = resource === undefined ? session.id : `${session.id}\u0000${resource}`
    let flight = inFlight.get(key)
    if (flight === undefined) {
      flight = refreshAcrossInstances(session, resource, stale).finally(() => inFlight.delete(key))
      inFlight.set(key, flight)
    }
    return flight
  }

  return {
    fresh(session, resource) {
      const due = dueFor(resource)
      return due(session) ? singleFlight(session, resource, due) : Promise.resolve(session)
    },
    // Any record still holding the refused token needs a new one, however far its expiry.
    replace: (session, resource) => singleFlight(session, resource, () => true),
  }
}
