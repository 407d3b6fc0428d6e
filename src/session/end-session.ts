import type { EndReason, SessionStore } from '../store/index.ts'

/**
 * Ends a session: deletes it, then tells every instance why, so its event streams hear `ended` and its
 * WebSockets close wherever they are. Telling is best effort: whoever misses it finds the session gone
 * at their next look.
 */
export async function endSession(store: SessionStore, sessionId: string, reason: EndReason): Promise<void> {
  await store.deleteSession(sessionId)
  await store.publish(sessionId, { type: 'ended', reason }).catch(() => {})
}
