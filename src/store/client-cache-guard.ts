import { withDeadline } from '../deadline.ts'
import type { ConnectableRedisClient } from './redis-client.ts'

export interface ClientCacheGuard {
  stop(): void
}

/**
 * Client-side caching trusts Redis to say when a cached key changes, and those messages arrive on the
 * connection itself: a connection that fails takes the cache with it (node-redis clears it), but one
 * that goes silent (a partition, a stalled Redis) would leave it serving. So every `intervalMs` each
 * node must answer a PING within `intervalMs`, or the cache is cleared: a cached read is at most about
 * two intervals older than the last change Redis could tell us about.
 */
export function guardClientCache(client: ConnectableRedisClient, pingEveryNode: () => Promise<unknown>, intervalMs = 1000): ClientCacheGuard {
  let running = false
  const timer = setInterval(() => {
    if (running) return
    running = true
    withDeadline(pingEveryNode(), intervalMs, () => { throw new Error('no answer') })
      .catch(() => client.clientSideCache?.clear())
      .finally(() => { running = false })
  }, intervalMs)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
