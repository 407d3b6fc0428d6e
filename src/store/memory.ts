import { deepFreeze } from '../deep-freeze.ts'
import { createLocalEvents } from './session-events.ts'
import { randomBytes } from 'node:crypto'
import { indexKeysOf, refreshLockName, sessionDeadline, type PendingLogin, type SessionRecord, type SessionStore } from './types.ts'
import { FAILED_PREFIX, holderId, indexName, MAX_PENDING_LOGINS, tooManyPendingLogins } from './index-name.ts'

export interface MemoryStoreDeps {
  /** The clock, in epoch milliseconds (`Date.now` in production, a settable clock in tests). */
  readonly now: () => number
  /** How often expired entries are dropped (default 60 s); reads never depend on it. */
  readonly sweepIntervalMs?: number
  /** Pending logins held at most (default 100,000); past it, new logins are refused as rate_limited. */
  readonly maxPendingLogins?: number
}

/** The memory store, plus its size so tests and metrics can see that expired entries are dropped. */
export interface MemoryStore extends SessionStore {
  size(): { readonly sessions: number; readonly pendingLogins: number }
}

interface PendingEntry { readonly login: PendingLogin; readonly expiresAt: number }

function sessionExpiresAt(session: SessionRecord): number {
  return sessionDeadline(session) * 1000
}

/**
 * A SessionStore in this process's memory: for one process only (tests, demos, a single instance).
 * Keeps deep copies, so callers can never change a stored record by mutating what they passed or got.
 */
export function createMemoryStore({ now, sweepIntervalMs = 60_000, maxPendingLogins = MAX_PENDING_LOGINS }: MemoryStoreDeps): MemoryStore {
  const sessions = new Map<string, SessionRecord>()
  const pending = new Map<string, PendingEntry>()
  const locks = new Map<string, { readonly value: string; readonly expiresAt: number }>()
  const markers = new Map<string, number>()
  const indexes = new Map<string, { readonly ids: Set<string>; expiresAt: number }>()
  const events = createLocalEvents()

  function liveSession(id: string): SessionRecord | undefined {
    const session = sessions.get(id)
    if (session === undefined) return undefined
    if (now() < sessionExpiresAt(session)) return session
    sessions.delete(id)
    return undefined
  }

  function compareAndSet(session: SessionRecord): boolean {
    const stored = liveSession(session.id)
    if (stored === undefined || stored.version !== session.version - 1) return false
    sessions.set(session.id, deepFreeze(structuredClone(session)))
    return true
  }

  function heldValue(name: string): string | undefined {
    const lock = locks.get(name)
    return lock !== undefined && now() < lock.expiresAt ? lock.value : undefined
  }

  function sweep(): void {
    const at = now()
    for (const [id, session] of sessions) if (at >= sessionExpiresAt(session)) sessions.delete(id)
    for (const [state, entry] of pending) if (at >= entry.expiresAt) pending.delete(state)
    for (const [name, lock] of locks) if (at >= lock.expiresAt) locks.delete(name)
    for (const [name, expiresAt] of markers) if (at >= expiresAt) markers.delete(name)
    for (const [name, index] of indexes) if (at >= index.expiresAt) indexes.delete(name)
  }

  // Expiry is checked on every read; the sweep only keeps abandoned entries from piling up.
  // unref: the timer alone must not keep the process alive.
  const sweeper = setInterval(sweep, sweepIntervalMs)
  sweeper.unref()

  return {
    kind: 'memory',

    async putPendingLogin(state, login, ttl) {
      // Logins nobody finishes must not grow memory without bound (a flood from many addresses).
      if (pending.size >= maxPendingLogins) {
        sweep()
        const oldest = pending.values().next().value
        if (pending.size >= maxPendingLogins) throw tooManyPendingLogins(Math.max(1, Math.ceil(((oldest?.expiresAt ?? now()) - now()) / 1000)))
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
      sessions.set(session.id, deepFreeze(structuredClone(session)))
      const keepUntil = session.absoluteExpiresAt * 1000
      for (const by of indexKeysOf(session)) {
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
      // Stored frozen: a caller cannot change what the next one reads, and none pays for a copy.
      return session
    },

    updateSession: async (session) => compareAndSet(session),

    async updateSessionFenced(session, lockToken) {
      if (heldValue(refreshLockName(session.id)) !== lockToken) return 'fenced'
      return compareAndSet(session) ? 'updated' : 'conflict'
    },

    async deleteSession(id) {
      sessions.delete(id)
    },

    async sessionsOf(by) {
      const index = indexes.get(indexName(by))
      return index === undefined || now() >= index.expiresAt ? [] : [...index.ids]
    },

    async acquireLock(name, ttlMs, waitedFor) {
      const held = heldValue(name)
      if (held !== undefined) {
        if (!held.startsWith(FAILED_PREFIX)) return { token: undefined, holder: holderId(held), failed: false }
        const failed = held.slice(FAILED_PREFIX.length)
        if (failed === waitedFor) return { token: undefined, holder: failed, failed: true }
      }
      const token = randomBytes(16).toString('base64url')
      locks.set(name, { value: token, expiresAt: now() + ttlMs })
      return { token }
    },

    async extendLock(name, token, ttlMs) {
      const held = heldValue(name)
      if (held !== undefined && held !== token) return false
      locks.set(name, { value: token, expiresAt: now() + ttlMs })
      return true
    },

    async releaseLock(name, token, failedForMs = 0) {
      if (heldValue(name) !== token) return
      if (failedForMs > 0) locks.set(name, { value: FAILED_PREFIX + holderId(token), expiresAt: now() + failedForMs })
      else locks.delete(name)
    },

    async putMarker(name, ttlMs) {
      markers.set(name, now() + ttlMs)
    },

    async hasMarker(name) {
      return (markers.get(name) ?? 0) > now()
    },

    publish: events.publish,
    subscribe: events.subscribe,

    async ping() {},

    async close() {
      clearInterval(sweeper)
    },

    size() {
      return { sessions: sessions.size, pendingLogins: pending.size }
    },
  }
}
