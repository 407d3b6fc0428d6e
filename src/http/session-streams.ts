import type { ServerResponse } from 'node:http'
import { CloakroomError } from '../errors.ts'
import { endSession } from '../session/end-session.ts'
import { isExpired } from '../session/index.ts'
import type { EndReason, SessionRecord, SessionStore } from '../store/index.ts'

/** Streams one session may have open on one instance (SPEC: more is 429). */
export const MAX_STREAMS_PER_SESSION = 32

export interface SessionStreams {
  /**
   * Serves `res` as the Server-Sent Events stream of `session` until the session ends or the
   * browser goes: `session` now and whenever its deadlines move, `ended` with the reason, then the end.
   */
  open(session: SessionRecord, res: ServerResponse): Promise<void>
  /** Streams open on this instance. */
  readonly size: number
  /** Ends every stream (shutdown): the browser's EventSource reconnects to another instance. */
  close(): void
}

export interface SessionStreamsDeps {
  readonly store: SessionStore
  /** Epoch milliseconds. */
  readonly now: () => number
  /** How often an idle stream gets a comment line (default 25 s; SPEC: at least every 30 s). */
  readonly keepAliveMs?: number
  /** Without a subscription (the store refused it), how often a watched session is read (default 5 s). */
  readonly pollMs?: number
}

interface Watched {
  readonly streams: Set<ServerResponse>
  /** Streams accepted but not yet answered (waiting for the subscription): they count against the limit. */
  opening: number
  /** What the streams were last told. */
  deadlines: { expiresAt: number; idleExpiresAt: number }
  timer: NodeJS.Timeout | undefined
  unsubscribe: Promise<() => Promise<void>>
  /** No subscription (the store refused it): the session is read every `pollMs` instead. */
  polling: boolean
  /** Why the session ended, once it has: a stream still opening is told so. */
  ended: EndReason | undefined
}

const deadlinesOf = (session: SessionRecord) => ({ expiresAt: session.absoluteExpiresAt, idleExpiresAt: session.idleExpiresAt })
const frame = (event: string, data: object) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
// setTimeout takes at most 2^31-1 ms; a later deadline is looked at again then.
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * The event streams of each session on this instance (SPEC "Session awareness for the SPA"). One
 * store subscription per session, whatever its number of streams: an `ended` event from any instance
 * ends them all; a `changed` one (the idle deadline slid) is read and passed on. Nobody has to ask
 * for a session to expire: a timer per watched session, at its deadline, ends it (and so tells every
 * instance). One interval writes the keep-alive comments of all streams.
 */
export function createSessionStreams({ store, now, keepAliveMs = 25_000, pollMs = 5000 }: SessionStreamsDeps): SessionStreams {
  const watched = new Map<string, Watched>()
  let open = 0

  function broadcast(entry: Watched, text: string): void {
    for (const res of entry.streams) res.write(text)
  }

  function finish(sessionId: string, reason: EndReason): void {
    const entry = watched.get(sessionId)
    if (entry === undefined) return
    entry.ended = reason
    forget(sessionId, entry)
    for (const res of entry.streams) res.end(frame('ended', { reason }))
  }

  function forget(sessionId: string, entry: Watched): void {
    if (watched.get(sessionId) !== entry) return
    watched.delete(sessionId)
    clearTimeout(entry.timer)
    void entry.unsubscribe.then((unsubscribe) => unsubscribe()).catch(() => {})
  }

  /** Arms the timer for the earlier of the session's deadlines. */
  function schedule(sessionId: string, entry: Watched): void {
    clearTimeout(entry.timer)
    const due = Math.min(entry.deadlines.expiresAt, entry.deadlines.idleExpiresAt) * 1000
    const wait = Math.min(entry.polling ? pollMs : MAX_TIMER_MS, Math.max(0, due - now()) + 50)
    entry.timer = setTimeout(() => void look(sessionId, entry), wait)
    entry.timer.unref()
  }

  /** Reads the session again: gone or expired, it ends; moved deadlines are told; otherwise nothing. */
  async function look(sessionId: string, entry: Watched): Promise<void> {
    let session: SessionRecord | undefined
    try {
      session = await store.getSession(sessionId)
    } catch {
      // The store is down: look again in a while, the session may well be alive.
      entry.timer = setTimeout(() => void look(sessionId, entry), pollMs)
      entry.timer.unref()
      return
    }
    if (watched.get(sessionId) !== entry) return
    if (session === undefined || isExpired(session, Math.floor(now() / 1000))) {
      // Ended for everyone: the event comes back to this instance too; finish here regardless.
      await endSession(store, sessionId, 'expired').catch(() => {})
      finish(sessionId, 'expired')
      return
    }
    const deadlines = deadlinesOf(session)
    if (deadlines.expiresAt !== entry.deadlines.expiresAt || deadlines.idleExpiresAt !== entry.deadlines.idleExpiresAt) {
      entry.deadlines = deadlines
      broadcast(entry, frame('session', deadlines))
    }
    schedule(sessionId, entry)
  }

  function watch(session: SessionRecord): Watched {
    const existing = watched.get(session.id)
    if (existing !== undefined) return existing
    const entry: Watched = { streams: new Set(), opening: 0, deadlines: deadlinesOf(session), timer: undefined, unsubscribe: Promise.resolve(async () => {}), polling: false, ended: undefined }
    entry.unsubscribe = store.subscribe(session.id, (event) => {
      if (event.type === 'ended') finish(session.id, event.reason)
      else void look(session.id, entry)
    }).then((unsubscribe) => {
      // An end published before the subscription was in place was missed: read the session once now.
      void look(session.id, entry)
      return unsubscribe
    }, () => {
      // No events for this session (the store is down): read it every few seconds instead.
      entry.polling = true
      if (watched.get(session.id) === entry) schedule(session.id, entry)
      return async () => {}
    })
    watched.set(session.id, entry)
    schedule(session.id, entry)
    return entry
  }

  const keepAlive = setInterval(() => {
    for (const entry of watched.values()) broadcast(entry, ': keep-alive\n\n')
  }, keepAliveMs)
  keepAlive.unref()

  return {
    async open(session, res) {
      const entry = watch(session)
      if (entry.streams.size + entry.opening >= MAX_STREAMS_PER_SESSION) {
        throw new CloakroomError('rate_limited', 'Too many event streams for this session', { retryAfter: 5 })
      }
      entry.opening++
      try {
        await entry.unsubscribe // subscribed (or failed to): nothing published from now on is missed
      } finally {
        entry.opening--
      }
      const idle = () => entry.streams.size === 0 && entry.opening === 0
      if (res.destroyed) {
        // The browser left while we waited.
        if (idle()) forget(session.id, entry)
        return
      }
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        // Proxies that buffer responses (nginx) would hold the events back.
        'x-accel-buffering': 'no',
      })
      if (entry.ended !== undefined) {
        // The session ended while we waited: this stream hears it too.
        res.end(frame('ended', { reason: entry.ended }))
        return
      }
      entry.streams.add(res)
      open++
      res.write(frame('session', entry.deadlines))
      await new Promise<void>((resolve) => res.once('close', () => {
        open--
        entry.streams.delete(res)
        if (idle()) forget(session.id, entry)
        resolve()
      }))
    },
    get size() { return open },
    close() {
      clearInterval(keepAlive)
      for (const [sessionId, entry] of watched) {
        forget(sessionId, entry)
        for (const res of entry.streams) res.end()
      }
    },
  }
}
