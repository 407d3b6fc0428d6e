import { setTimeout as sleep } from 'node:timers/promises'
import { CloakroomError } from '../errors.ts'
import type { SessionRecord, SessionStore, TokenSet } from '../store/index.ts'
import { needsRefresh } from './rules.ts'

export type RefreshOutcome = 'ok' | 'invalid_grant' | 'unavailable'

export interface TokenRefresherDeps {
  readonly store: SessionStore
  /** The refresh token grant (oidc.refresh): throws session_expired or idp_unavailable. */
  readonly refresh: (tokens: TokenSet) => Promise<TokenSet>
  /** Seconds before the access token's expiry at which it is refreshed. */
  readonly refreshBefore: number
  /** How long one holder may keep the refresh lock; above the issuer timeout, so a live holder never loses it. */
  readonly lockTtlMs: number
  /** Epoch milliseconds. */
  readonly now: () => number
  /** How often a waiter looks for the holder's result (default 50 ms). */
  readonly pollMs?: number
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

/**
 * Single-flight refresh. In-process, concurrent callers share one promise per session. Across
 * processes, a store lock elects one refresher; the others poll the store until the session
 * holds fresh tokens (or the lock frees, if the holder died, and one of them takes over). A strict
 * IdP revokes the whole grant when a used refresh token comes back, so spending one twice would
 * log the user out: hence re-reading under the lock, before calling the issuer.
 */
export function createTokenRefresher(deps: TokenRefresherDeps): TokenRefresher {
  const { store, refreshBefore, lockTtlMs, now, pollMs = 50 } = deps
  const inFlight = new Map<string, Promise<SessionRecord>>()
  const due = (session: SessionRecord) => needsRefresh(session, refreshBefore, Math.floor(now() / 1000))

  async function refreshAcrossInstances(id: string): Promise<SessionRecord> {
    // A holder that died frees the lock after lockTtlMs and a waiter takes over, so two lock
    // lifetimes bound the wait even when the first holder vanished.
    const deadline = now() + 2 * lockTtlMs
    for (;;) {
      const latest = await store.getSession(id)
      if (latest === undefined) throw ended()
      if (!due(latest)) return latest
      const token = await store.acquireLock(`refresh:${id}`, lockTtlMs)
      if (token !== undefined) {
        try {
          return await refreshHoldingLock(id)
        } finally {
          await store.releaseLock(`refresh:${id}`, token).catch(() => {})
        }
      }
      if (now() > deadline) throw new CloakroomError('idp_unavailable', 'Timed out waiting for a token refresh')
      await sleep(pollMs)
    }
  }

  async function refreshHoldingLock(id: string): Promise<SessionRecord> {
    // Re-read under the lock: the previous holder may have refreshed while we waited for it.
    const current = await store.getSession(id)
    if (current === undefined) throw ended()
    if (!due(current)) return current
    let tokens: TokenSet
    try {
      tokens = await deps.refresh(current.tokens)
    } catch (error) {
      const expired = error instanceof CloakroomError && error.code === 'session_expired'
      deps.onRefresh?.(expired ? 'invalid_grant' : 'unavailable')
      if (expired) await store.deleteSession(id)
      throw error
    }
    deps.onRefresh?.('ok')
    return writeTokens(current, tokens)
  }

  /**
   * Stores the new tokens (the rotated refresh token above all) before anyone uses them. A
   * compare-and-set on the version; on a conflict (an idle-timeout touch meanwhile) the tokens are
   * applied again onto the newer record.
   */
  async function writeTokens(current: SessionRecord, tokens: TokenSet): Promise<SessionRecord> {
    let base = current
    for (let attempt = 0; attempt < 10; attempt++) {
      const next = { ...base, tokens, version: base.version + 1 }
      if (await store.updateSession(next)) return next
      const latest = await store.getSession(current.id)
      if (latest === undefined) throw ended()
      base = latest
    }
    throw new CloakroomError('store_unavailable', 'Could not store the refreshed tokens')
  }

  return {
    async fresh(session) {
      if (!due(session)) return session
      let flight = inFlight.get(session.id)
      if (flight === undefined) {
        flight = refreshAcrossInstances(session.id).finally(() => inFlight.delete(session.id))
        inFlight.set(session.id, flight)
      }
      return flight
    },
  }
}
