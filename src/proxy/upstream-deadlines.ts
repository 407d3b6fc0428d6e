import type { ClientRequest } from 'node:http'

/** An attempt at a target, as the deadlines see it. */
export interface Watched {
  /** The request to the target, once http-proxy-3 made it. */
  readonly request: ClientRequest | undefined
  /** The connect deadline passed: no connection (or none free) to the target in time. */
  connectExpired(): void
  /** Connected, then nothing was sent or received for the upstream timeout. */
  upstreamExpired(request: ClientRequest): void
  /** Kept by the deadlines while watched (initially undefined). */
  deadline: Deadline | undefined
}

export interface UpstreamDeadlines {
  watch(attempt: Watched): void
  /** Ends the watch; safe to call more than once. */
  unwatch(attempt: Watched): void
  close(): void
}

export interface Deadline {
  /** Where the attempt is in the list of those watched. */
  slot: number
  /** Connecting (or waiting for a free connection) until this, ms on `now()`'s clock. */
  connectBy: number
  /** Once connected: the socket's bytes read and written when last seen moving, and when that was. */
  bytes: number
  quietSince: number
}

/**
 * The connect and upstream timeouts of every attempt in flight, checked by one timer that runs while
 * any is watched. A timer per request (and a socket timeout re-armed per request) cost more on the
 * hot path than anything else Cloakroom adds; a deadline fires up to about two checks late, never early.
 *
 * - Connect: from watch() until the request has a connected socket (a request waiting for one of the
 *   target's connections counts too, SPEC "API routes").
 * - Upstream: once connected, no byte read from or written to the target's socket for `upstreamMs`
 *   (as a socket timeout would: waiting for the answer, or a stalled body either way), until the
 *   request to the target is done.
 */
export function createUpstreamDeadlines(connectMs: number, upstreamMs: number, now: () => number = () => performance.now()): UpstreamDeadlines {
  // A plain list, each attempt knowing its slot. A Map of the attempts (an entry set and deleted per
  // request) made every young-generation collection 10x slower under load (--trace-gc: 7-25 ms, not
  // 0.8) and promoted megabytes a second to the old generation: its deleted entries outlived them.
  const watched: Watched[] = []
  const intervalMs = Math.min(1000, Math.max(20, Math.min(connectMs, upstreamMs) / 20))
  let timer: NodeJS.Timeout | undefined

  function check(): void {
    if (watched.length === 0) {
      clearInterval(timer)
      timer = undefined
      return
    }
    const at = now()
    // Backwards: an attempt that expires is removed by moving the last one into its slot.
    for (let i = watched.length - 1; i >= 0; i--) {
      const attempt = watched[i] as Watched
      const state = attempt.deadline as Deadline
      if (attempt.request?.destroyed === true) {
        // Done with (a kept-alive request is marked destroyed once its answer is complete), or failed.
        remove(attempt)
        continue
      }
      const socket = attempt.request?.socket
      if (socket === undefined || socket === null || socket.connecting) {
        if (at < state.connectBy) continue
        remove(attempt)
        attempt.connectExpired()
        continue
      }
      const bytes = socket.bytesRead + socket.bytesWritten
      if (state.quietSince === -1 || bytes !== state.bytes) {
        state.bytes = bytes
        state.quietSince = at
      } else if (at - state.quietSince >= upstreamMs) {
        remove(attempt)
        attempt.upstreamExpired(attempt.request as ClientRequest)
      }
    }
  }

  function remove(attempt: Watched): void {
    const slot = attempt.deadline?.slot
    if (slot === undefined) return
    const last = watched.pop() as Watched
    if (last !== attempt) {
      watched[slot] = last
      ;(last.deadline as Deadline).slot = slot
    }
    attempt.deadline = undefined
  }

  return {
    watch(attempt) {
      if (attempt.deadline !== undefined) return
      attempt.deadline = { slot: watched.length, connectBy: now() + connectMs, bytes: 0, quietSince: -1 }
      watched.push(attempt)
      if (timer === undefined) {
        timer = setInterval(check, intervalMs)
        timer.unref()
      }
    },
    unwatch: remove,
    close() {
      clearInterval(timer)
      timer = undefined
      for (const attempt of watched) attempt.deadline = undefined
      watched.length = 0
    },
  }
}
