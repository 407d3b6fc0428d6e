/** Why a session ended, as its event streams hear it (SPEC "Session awareness for the SPA"). */
export type EndReason = 'logout' | 'backchannel' | 'revoked' | 'expired' | 'replaced'

const END_REASONS: ReadonlySet<string> = new Set<EndReason>(['logout', 'backchannel', 'revoked', 'expired', 'replaced'])

/** What one instance tells every instance about a session. */
export type SessionEvent =
  | { readonly type: 'ended'; readonly reason: EndReason }
  /** Its record changed (the idle deadline moved, tokens were refreshed): read it again. */
  | { readonly type: 'changed' }

export type SessionEventListener = (event: SessionEvent) => void

/** An event from its JSON, or undefined for anything else (a channel anyone with Redis access can publish on). */
export function parseSessionEvent(text: string): SessionEvent | undefined {
  try {
    const value = JSON.parse(text) as { type?: unknown; reason?: unknown }
    if (value.type === 'changed') return { type: 'changed' }
    if (value.type === 'ended' && typeof value.reason === 'string' && END_REASONS.has(value.reason)) {
      return { type: 'ended', reason: value.reason as EndReason }
    }
  } catch { /* not JSON */ }
  return undefined
}

/** Events within one process: the memory store's, where there is no other instance to tell. */
export function createLocalEvents(): {
  publish(sessionId: string, event: SessionEvent): Promise<void>
  subscribe(sessionId: string, listener: SessionEventListener): Promise<() => Promise<void>>
} {
  const listeners = new Map<string, Set<SessionEventListener>>()
  return {
    async publish(sessionId, event) {
      // Delivered after the publisher's turn, as an event from Redis would be.
      for (const listener of listeners.get(sessionId) ?? []) queueMicrotask(() => listener(event))
    },
    async subscribe(sessionId, listener) {
      const set = listeners.get(sessionId) ?? new Set()
      listeners.set(sessionId, set.add(listener))
      return async () => {
        set.delete(listener)
        if (set.size === 0 && listeners.get(sessionId) === set) listeners.delete(sessionId)
      }
    },
  }
}
