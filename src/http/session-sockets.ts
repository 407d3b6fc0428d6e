import type { Duplex } from 'node:stream'
import { isExpired } from '../session/index.ts'
import type { SessionStore } from '../store/index.ts'

export interface SessionSockets {
  /** Watches an upgraded connection that carries `sessionId`: it is closed when that session ends. */
  track(sessionId: string, socket: Duplex): void
  /** This instance ended the session: close its connections now. */
  ended(sessionId: string): void
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
 * when that session ends, whatever ends it). Sessions ended here close theirs at once; sessions
 * ended on another instance, or by their idle or absolute timeout, are found by a periodic look-up,
 * one store read per watched session.
 */
export function createSessionSockets({ store, now, sweepMs = 5000 }: SessionSocketsDeps): SessionSockets {
  const bySession = new Map<string, Set<Duplex>>()

  function ended(sessionId: string): void {
    const sockets = bySession.get(sessionId)
    bySession.delete(sessionId)
    for (const socket of sockets ?? []) socket.destroy()
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
      const sockets = bySession.get(sessionId) ?? new Set()
      bySession.set(sessionId, sockets.add(socket))
      socket.once('close', () => {
        sockets.delete(socket)
        if (sockets.size === 0 && bySession.get(sessionId) === sockets) bySession.delete(sessionId)
      })
    },
    ended,
    sweep,
    close: () => clearInterval(timer),
  }
}
