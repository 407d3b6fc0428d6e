import { CloakroomError } from '../../errors.ts'

export interface RateLimiter {
  /** Counts one request for `key`; throws rate_limited (with Retry-After) past the limit. */
  hit(key: string): void
}

/**
 * A fixed one-minute window per key, in process memory. Counts reset with the window, so memory is
 * bounded by the number of distinct keys seen within one minute.
 */
export function createRateLimiter(perMinute: number, now: () => number): RateLimiter {
  let windowStart = 0
  let counts = new Map<string, number>()
  return {
    hit(key) {
      const at = now()
      if (at - windowStart >= 60_000) {
        windowStart = at
        counts = new Map()
      }
      const count = (counts.get(key) ?? 0) + 1
      counts.set(key, count)
      if (count > perMinute) {
        const retryAfter = Math.max(1, Math.ceil((windowStart + 60_000 - at) / 1000))
        throw new CloakroomError('rate_limited', 'Too many login attempts; try again later', { retryAfter })
      }
    },
  }
}
