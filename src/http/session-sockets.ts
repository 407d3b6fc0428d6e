import type { Duplex } from 'node:stream'
import { isExpired } from '../session/index.ts'
import type { SessionStore } from '../store/index.ts'

export interface SessionSockets {
  /** Watches an upgraded connection that carries `sessionId`: it is closed when that session ends. */
  track(sessionId: string, socket: Duplex): void
  /** Looks up every watched session once: those that ended anywhere (another instance, a timeout) lose their connections. */
  sweep(): Promise<void>
  close(): void
}

export interface SessionSocketsDeps {
  readonly store: SessionStore
  /** Epoch milliseconds. */
  readonly now: () => number
  /** How often watched sessions are looked up (default 5 s): the bound on how long a WebSocket outlives a session ended elsewhere. */
  readonly sweepMs?: number
}

/**
 * The WebSockets of each session (SPEC "API routes": a WebSocket that carries a session is closed
 * when that session ends, whatever ends it). A session's `ended` event, from whichever instance ended
 * it, closes them at once; a periodic look-up (one store read per watched session) finds the sessions
 * that timed out, or whose event was missed in a store outage.
 */
export function createSessionSockets({ store, now, sweepMs = 5000 }: SessionSocketsDeps): SessionSockets {
  const bySession = new Map<string, { readonly sockets: Set<Duplex>; readonly unsubscribed: Promise<() => Promise<void>> }>()

  function ended(sessionId: string): void {
    const watched = bySession.get(sessionId)
    if (watched === undefined) return
    bySession.delete(sessionId)
    for (const socket of watched.sockets) socket.destroy()
    void watched.unsubscribed.then((unsubscribe) => unsubscribe()).catch(() => {})
  }

  async function sweep(): Promise<void> {
    const at = Math.floor(now() / 1000)
    await Promise.all([...bySession.keys()].map(async (id) => {
      // A store outage is not the session's end: look again next time.
      const session = await store.getSession(id).catch(() => null)
      if (session === undefined || (session !== null && isExpired(session, at))) ended(id)
    }))
  }

  const timer = setInterval(() => void sweep(), sweepMs)
  timer.unref()

  return {
    track(sessionId, socket) {
      let watched = bySession.get(sessionId)
      if (watched === undefined) {
        // A subscription that fails (the store is down) leaves the look-up to find the end.
        const unsubscribed = store.subscribe(sessionId, (event) => { if (event.type === 'ended') ended(sessionId) })
          .catch(() => async () => {})
        watched = { sockets: new Set(), unsubscribed }
        bySession.set(sessionId, watched)
      }
      const { sockets } = watched
      sockets.add(socket)
      socket.once('close', () => {
        sockets.delete(socket)
        if (sockets.size === 0 && bySession.get(sessionId) === watched) {
          bySession.delete(sessionId)
          void watched.unsubscribed.then((unsubscribe) => unsubscribe()).catch(() => {})
        }
      })
    },
    sweep,
    close: () => clearInterval(timer),
  }
}
