import { withDeadline } from '../deadline.ts'
import type { ConnectableRedisClient } from './redis-client.ts'

export interface ClientCacheGuard {
  stop(): void
}

export interface GuardOptions {
  /** How often every node must answer a PING, and how long it may take (default 1000 ms). */
  readonly intervalMs?: number
  /** A PING failed or went unanswered (called on every miss). */
  readonly onDown?: (error: unknown) => void
  /** Every node answered (called on every answer). */
  readonly onUp?: () => void
}

/**
 * Client-side caching trusts Redis to say when a cached key changes, and those messages arrive on the
 * connection itself: a connection that fails takes the cache with it (node-redis clears it), but one
 * that goes silent (a partition, a stalled Redis) would leave it serving. So every `intervalMs` each
 * node must answer a PING within `intervalMs`, or the cache is cleared: a cached read is at most about
 * two intervals older than the last change Redis could tell us about. The same heartbeat tells the
 * log when the store is lost and back, for every topology (a cluster or a sentinel reports its nodes'
 * failures on events of its own, or not at all).
 */
export function guardClientCache(client: ConnectableRedisClient, pingEveryNode: () => Promise<unknown>, { intervalMs = 1000, onDown, onUp }: GuardOptions = {}): ClientCacheGuard {
  let running = false
  const timer = setInterval(() => {
    if (running) return
    running = true
    withDeadline(pingEveryNode(), intervalMs, () => { throw new Error(`no answer to PING within ${intervalMs} ms`) })
      .then(() => onUp?.(), (error: unknown) => {
        client.clientSideCache?.clear()
        onDown?.(error)
      })
      .finally(() => { running = false })
  }, intervalMs)
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
