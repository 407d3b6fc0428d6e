import { CloakroomError } from '../../errors.ts'

/**
 * The key a client address is counted under: an IPv4 address as it is, an IPv6 address by its /64
 * (one host usually owns a whole /64, so counting single addresses would be no limit at all).
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped?.[1] !== undefined) return mapped[1]
  if (!ip.includes(':')) return ip
  const [head = '', tail = ''] = ip.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === '' ? [] : tail.split(':')
  const groups = ip.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left
  return `${groups.slice(0, 4).map((group) => group.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`
}

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
