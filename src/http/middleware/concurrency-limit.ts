import { CloakroomError } from '../../errors.ts'

export interface ConcurrencyLimit {
  /** Counts one more request in flight for `key`; throws rate_limited past the limit. Call the returned function once it ends. */
  take(key: string): () => void
}

/**
 * How many forwarded requests (and WebSockets) one client may have in flight at once: a slow or
 * stalled client (slow uploads, slow readers, long polls) holds connections to the target, and must
 * not be able to hold them all. Memory is bounded by the clients with something in flight.
 */
export function createConcurrencyLimit(max: number): ConcurrencyLimit {
  const inFlight = new Map<string, number>()
  return {
    take(key) {
      const count = inFlight.get(key) ?? 0
      if (count >= max) throw new CloakroomError('rate_limited', 'Too many requests in flight for this client', { retryAfter: 1 })
      inFlight.set(key, count + 1)
      let released = false
      return () => {
        if (released) return
        released = true
        const left = (inFlight.get(key) ?? 1) - 1
        if (left <= 0) inFlight.delete(key)
        else inFlight.set(key, left)
      }
    },
  }
}
