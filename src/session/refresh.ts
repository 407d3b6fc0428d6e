import { setTimeout as sleep } from 'node:timers/promises'
import { CloakroomError } from '../errors.ts'
import type { Refreshed } from '../oidc/index.ts'
import type { SessionRecord, SessionStore } from '../store/index.ts'
import { needsRefresh } from './rules.ts'

export type RefreshOutcome = 'ok' | 'invalid_grant' | 'unavailable'

export interface TokenRefresherDeps {
  readonly store: SessionStore
  /** The refresh token grant (oidc.refresh): throws session_expired or idp_unavailable. */
  readonly refresh: (session: SessionRecord) => Promise<Refreshed>
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
   * How long a failed refresh is reported to other callers as idp_unavailable (default 250 ms):
   * long enough for every waiter, polling every `pollMs`, to see it instead of trying in turn;
   * short enough that the next call retries.
   */
  readonly failureHoldMs?: number
  readonly onRefresh?: (outcome: RefreshOutcome) => void
}

export interface TokenRefresher {
  /**
   * The session with an access token that is not about to expire. Refreshes it at most once however
   * many requests (in this process or others sharing the store) ask at the same time.
   */
  fresh(session: SessionRecord): Promise<SessionRecord>
}

const ended = () => new CloakroomError('session_expired', 'The session has ended; please log in again')
const isStoreDown = (error: unknown) => error instanceof CloakroomError && error.code === 'store_unavailable'

/** Someone refreshed since `seen` was read: its tokens were replaced. */
function refreshedSince(seen: SessionRecord, latest: SessionRecord): boolean {
  return latest.tokens.accessToken !== seen.tokens.accessToken || latest.tokens.refreshToken !== seen.tokens.refreshToken
}

/**
 * Single-flight refresh. In-process, concurrent callers share one promise per session. Across
 * processes, a store lock elects one refresher; the others poll the store until the session holds
 * new tokens (or the lock frees, if the holder died, and one of them takes over; or the holder
 * marks it failed, and they answer idp_unavailable without calling the issuer themselves). A strict
 * IdP revokes the whole grant when a used refresh token comes back, so spending one twice would log
 * the user out: hence re-reading under the lock, before calling the issuer.
 */
export function createTokenRefresher(deps: TokenRefresherDeps): TokenRefresher {
  const { store, refreshBefore, lockTtlMs, now, pollMs = 50, failureHoldMs = 250 } = deps
  const inFlight = new Map<string, Promise<SessionRecord>>()
  // Tokens the issuer issued but the store could not take: the spent refresh token is gone, so the
  // next attempt must write these instead of asking the issuer again.
  const unsaved = new Map<string, { readonly spent: string | undefined; readonly refreshed: Refreshed; readonly at: number }>()
  const due = (session: SessionRecord) => needsRefresh(session, refreshBefore, Math.floor(now() / 1000))

  async function refreshAcrossInstances(seen: SessionRecord): Promise<SessionRecord> {
    await deps.prepare?.()
    const lock = `refresh:${seen.id}`
    // A live holder finishes within the lock's lifetime; a dead one's lock expires by then and is taken over.
    const deadline = now() + lockTtlMs + 10 * pollMs
    for (;;) {
      const latest = await store.getSession(seen.id)
      if (latest === undefined) throw ended()
      if (refreshedSince(seen, latest) || !due(latest)) return latest
      const attempt = await store.acquireLock(lock, lockTtlMs)
      if (attempt.token !== undefined) {
        let failed = false
        try {
          return await refreshHoldingLock(seen, now() + lockTtlMs)
        } catch (error) {
          failed = error instanceof CloakroomError && error.code !== 'session_expired'
          throw error
        } finally {
          await store.releaseLock(lock, attempt.token, failed ? failureHoldMs : 0).catch(() => {})
        }
      }
      if (attempt.failed) throw new CloakroomError('idp_unavailable', 'The identity provider is unavailable')
      if (now() > deadline) throw new CloakroomError('idp_unavailable', 'Timed out waiting for a token refresh')
      await sleep(pollMs)
    }
  }

  async function refreshHoldingLock(seen: SessionRecord, lockUntil: number): Promise<SessionRecord> {
    // Re-read under the lock: the previous holder may have refreshed after our last look.
    const current = await store.getSession(seen.id)
    if (current === undefined) throw ended()
    if (refreshedSince(seen, current) || !due(current)) return current
    const pending = unsaved.get(current.id)
    const refreshed = pending !== undefined && pending.spent === current.tokens.refreshToken ? pending.refreshed : await grant(current)
    return writeTokens(current, refreshed, lockUntil)
  }

  async function grant(current: SessionRecord): Promise<Refreshed> {
    try {
      const refreshed = await deps.refresh(current)
      deps.onRefresh?.('ok')
      return refreshed
    } catch (error) {
      const expired = error instanceof CloakroomError && error.code === 'session_expired'
      deps.onRefresh?.(expired ? 'invalid_grant' : 'unavailable')
      if (expired) await store.deleteSession(current.id)
      throw error
    }
  }

  /**
   * Stores the new tokens (the rotated refresh token above all) before anyone uses them: a
   * compare-and-set on the version. A conflict from an idle-timeout touch is retried on the newer
   * record; a record whose tokens changed means another refresh won (our lock had expired), and
   * its tokens stand. A store outage is retried while the lock lasts, then the tokens are kept here.
   */
  async function writeTokens(current: SessionRecord, refreshed: Refreshed, lockUntil: number): Promise<SessionRecord> {
    let base = current
    for (let attempt = 0, backoff = 100; attempt < 10;) {
      try {
        const next = { ...base, tokens: refreshed.tokens, claims: refreshed.claims ?? base.claims, version: base.version + 1 }
        if (await store.updateSession(next)) {
          unsaved.delete(current.id)
          return next
        }
        const latest = await store.getSession(current.id)
        if (latest === undefined) throw ended()
        if (refreshedSince(current, latest)) return latest
        base = latest
        attempt++
      } catch (error) {
        if (!isStoreDown(error) || now() + backoff > lockUntil) {
          if (isStoreDown(error)) remember(current, refreshed)
          throw error
        }
        await sleep(backoff)
        backoff = Math.min(backoff * 2, 1000)
      }
    }
    throw new CloakroomError('store_unavailable', 'Could not store the refreshed tokens')
  }

  function remember(current: SessionRecord, refreshed: Refreshed): void {
    for (const [id, entry] of unsaved) if (now() - entry.at > 3_600_000) unsaved.delete(id)
    if (unsaved.size < 10_000) unsaved.set(current.id, { spent: current.tokens.refreshToken, refreshed, at: now() })
  }

  return {
    async fresh(session) {
      if (!due(session)) return session
      let flight = inFlight.get(session.id)
      if (flight === undefined) {
        flight = refreshAcrossInstances(session).finally(() => inFlight.delete(session.id))
        inFlight.set(session.id, flight)
      }
      return flight
    },
  }
}
