import { randomBytes } from 'node:crypto'
import type { DpopKey, EndReason, SessionRecord, SessionStore, TokenSet } from '../store/index.ts'
import { endSession } from './end-session.ts'
import type { SessionCookies } from './session-cookies.ts'
import { expiryReason, isExpired, newSessionRecord, shouldTouch, touched, type SessionTimeouts } from './rules.ts'

/** Reads, starts and ends sessions: the rules of rules.ts over a store and the session cookie. */
export interface Sessions {
  /** The live session the cookie names, or undefined (an expired one is deleted on the way). */
  fromCookie(cookieHeader: string | undefined): Promise<SessionRecord | undefined>
  /** Slides the idle timeout for real activity (a request that passed every check); returns the latest record. */
  touch(session: SessionRecord): Promise<SessionRecord>
  start(fields: { sub: string; claims: Readonly<Record<string, unknown>>; tokens: TokenSet; userAgent?: string | undefined; dpopKey?: DpopKey }): Promise<SessionRecord>
  /** Every live session of a subject, on every instance (the store's index by subject). */
  ofSubject(sub: string): Promise<SessionRecord[]>
  /** Deletes the session and tells every instance why (endSession). */
  end(sessionId: string, reason: EndReason): Promise<void>
}

export interface SessionsDeps {
  readonly store: SessionStore
  readonly cookies: SessionCookies
  readonly timeouts: SessionTimeouts
  /** Epoch milliseconds. */
  readonly now: () => number
  /** Told of each session found past a timeout (and deleted): idle or absolute. */
  readonly onExpired?: (reason: 'idle_timeout' | 'absolute_timeout') => void
}

export function createSessions({ store, cookies, timeouts, now, onExpired }: SessionsDeps): Sessions {
  const nowSeconds = () => Math.floor(now() / 1000)
  return {
    async fromCookie(cookieHeader) {
      const id = await cookies.readSessionId(cookieHeader)
      if (id === undefined) return undefined
      const session = await store.getSession(id)
      if (session === undefined) return undefined
      const at = nowSeconds()
      if (isExpired(session, at)) {
        await endSession(store, id, 'expired')
        onExpired?.(expiryReason(session, at))
        return undefined
      }
      return session
    },

    async touch(session) {
      const at = nowSeconds()
      if (!shouldTouch(session, timeouts, at)) return session
      const next = touched(session, timeouts, at)
      // Losing the compare-and-set means another request wrote a newer record (and slid it): use that one.
      if (!(await store.updateSession(next))) return (await store.getSession(session.id)) ?? session
      // Its event streams show the new idle deadline, on every instance (not waited for: best effort).
      store.publish(session.id, { type: 'changed' }).catch(() => {})
      return next
    },

    async start(fields) {
      // A fresh id on every login: a session id planted before login is never promoted (fixation).
      const session = newSessionRecord({ id: randomBytes(32).toString('base64url'), ...fields }, timeouts, nowSeconds())
      await store.createSession(session)
      return session
    },

    end: (sessionId, reason) => endSession(store, sessionId, reason),

    async ofSubject(sub) {
      const at = nowSeconds()
      const found = await Promise.all((await store.sessionsOf({ sub })).map((id) => store.getSession(id)))
      // The index may name sessions that ended, and a stale entry must never show another's session.
      return found.filter((session): session is SessionRecord => session !== undefined && session.sub === sub && !isExpired(session, at))
    },
  }
}
