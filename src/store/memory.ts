import { randomBytes } from 'node:crypto'
import { sessionDeadline, type PendingLogin, type SessionRecord, type SessionStore } from './types.ts'
import { FAILED_LOCK, indexName } from './index-name.ts'

export interface MemoryStoreDeps {
  /** The clock, in epoch milliseconds (`Date.now` in production, a settable clock in tests). */
  readonly now: () => number
  /** How often expired entries are dropped (default 60 s); reads never depend on it. */
  readonly sweepIntervalMs?: number
}

/** The memory store, plus its size so tests and metrics can see that expired entries are dropped. */
export interface MemoryStore extends SessionStore {
  size(): { readonly sessions: number; readonly pendingLogins: number }
}

/** At about 300 bytes each, 100,000 pending logins stay near 30 MB. */
const MAX_PENDING_LOGINS = 100_000

interface PendingEntry { readonly login: PendingLogin; readonly expiresAt: number }

function sessionExpiresAt(session: SessionRecord): number {
  return sessionDeadline(session) * 1000
}

/**
 * A SessionStore in this process's memory: for one process only (tests, demos, a single instance).
 * Keeps deep copies, so callers can never change a stored record by mutating what they passed or got.
 */
export function createMemoryStore({ now, sweepIntervalMs = 60_000 }: MemoryStoreDeps): MemoryStore {
  const sessions = new Map<string, SessionRecord>()
  const pending = new Map<string, PendingEntry>()
  const locks = new Map<string, { readonly token: string; readonly expiresAt: number }>()
  const indexes = new Map<string, { readonly ids: Set<string>; expiresAt: number }>()

  function liveSession(id: string): SessionRecord | undefined {
    const session = sessions.get(id)
    if (session === undefined) return undefined
    if (now() < sessionExpiresAt(session)) return session
    sessions.delete(id)
    return undefined
  }

  function sweep(): void {
    const at = now()
    for (const [id, session] of sessions) if (at >= sessionExpiresAt(session)) sessions.delete(id)
    for (const [state, entry] of pending) if (at >= entry.expiresAt) pending.delete(state)
    for (const [name, lock] of locks) if (at >= lock.expiresAt) locks.delete(name)
    for (const [name, index] of indexes) if (at >= index.expiresAt) indexes.delete(name)
  }

  // Expiry is checked on every read; the sweep only keeps abandoned entries from piling up.
  // unref: the timer alone must not keep the process alive.
  const sweeper = setInterval(sweep, sweepIntervalMs)
  sweeper.unref()

  return {
    kind: 'memory',

    async putPendingLogin(state, login, ttl) {
      // Logins nobody finishes must not grow memory without bound (a flood from many addresses):
      // past the cap, the oldest pending login gives way.
      if (pending.size >= MAX_PENDING_LOGINS) {
        sweep()
        if (pending.size >= MAX_PENDING_LOGINS) pending.delete(pending.keys().next().value ?? '')
      }
      pending.set(state, { login: structuredClone(login), expiresAt: now() + ttl * 1000 })
    },

    async takePendingLogin(state) {
      const entry = pending.get(state)
      pending.delete(state)
      if (entry === undefined || now() >= entry.expiresAt) return undefined
      return structuredClone(entry.login)
    },

    async createSession(session) {
      sessions.set(session.id, structuredClone(session))
      const keepUntil = session.absoluteExpiresAt * 1000
      for (const by of [{ sub: session.sub }, ...(session.idpSid === undefined ? [] : [{ idpSid: session.idpSid }])]) {
        const name = indexName(by)
        const index = indexes.get(name)
        if (index === undefined || now() >= index.expiresAt) indexes.set(name, { ids: new Set([session.id]), expiresAt: keepUntil })
        else {
          index.ids.add(session.id)
          index.expiresAt = Math.max(index.expiresAt, keepUntil)
        }
      }
    },

    async getSession(id) {
      const session = liveSession(id)
      return session === undefined ? undefined : structuredClone(session)
    },

    async updateSession(session) {
      const stored = liveSession(session.id)
      if (stored === undefined || stored.version !== session.version - 1) return false
      sessions.set(session.id, structuredClone(session))
      return true
    },

    async deleteSession(id) {
      sessions.delete(id)
    },

    async sessionsOf(by) {
      const index = indexes.get(indexName(by))
      return index === undefined || now() >= index.expiresAt ? [] : [...index.ids]
    },

    async acquireLock(name, ttlMs) {
      const held = locks.get(name)
      if (held !== undefined && now() < held.expiresAt) return { token: undefined, failed: held.token === FAILED_LOCK }
      const token = randomBytes(16).toString('base64url')
      locks.set(name, { token, expiresAt: now() + ttlMs })
      return { token }
    },

    async releaseLock(name, token, failedForMs = 0) {
      if (locks.get(name)?.token !== token) return
      if (failedForMs > 0) locks.set(name, { token: FAILED_LOCK, expiresAt: now() + failedForMs })
      else locks.delete(name)
    },

    async ping() {},

    async close() {
      clearInterval(sweeper)
    },

    size() {
      return { sessions: sessions.size, pendingLogins: pending.size }
    },
  }
}
