import type { StoreConfig } from '../config/types.ts'
import { createMemoryStore } from './memory.ts'
import { createRecordCipher } from './record-cipher.ts'
import { createRedisClient } from './redis-client.ts'
import { connectInBackground, type StoreLog } from './redis-connection.ts'
import { createRedisStore } from './redis.ts'
import type { SessionStore } from './types.ts'

export type { StoreLog } from './redis-connection.ts'

export interface CreateStoreDeps {
  /** `session.secrets`: the first seals stored records, all open them. */
  readonly secrets: readonly string[]
  readonly log: StoreLog
  /** The clock, in epoch milliseconds (`Date.now` in production). */
  readonly now: () => number
  /** Bound on one connect attempt, and on how long startup waits for Redis (default 5000 ms). */
  readonly connectTimeoutMs?: number
  /** Bound on one store call (default 2000 ms): past it the call fails with store_unavailable. */
  readonly commandTimeoutMs?: number
  /** Bound on pending logins held (default 100,000). */
  readonly maxPendingLogins?: number
}

/**
 * Builds the configured store. For Redis it connects, but waits at most `connectTimeoutMs`: when
 * Redis is down at startup the process still starts, calls fail with `store_unavailable`, and the
 * client keeps reconnecting in the background until Redis answers.
 */
export async function createStore(config: StoreConfig, deps: CreateStoreDeps): Promise<SessionStore> {
  const { log, now, connectTimeoutMs = 5000, commandTimeoutMs = 2000 } = deps
  if (config.type === 'memory') {
    log.warn({ store: 'memory' }, 'memory session store: sessions live in this process only; do not run more than one instance')
    return createMemoryStore({ now, ...(deps.maxPendingLogins === undefined ? {} : { maxPendingLogins: deps.maxPendingLogins }) })
  }

  const client = createRedisClient(config, { connectMs: connectTimeoutMs, commandMs: commandTimeoutMs })
  const connection = connectInBackground(client, config.type, log)
  if (!(await connection.waitUntilReady(connectTimeoutMs))) {
    log.warn({ store: config.type }, 'session store not reachable at startup; starting anyway and reconnecting in the background')
  }

  const store = createRedisStore({
    client,
    keyPrefix: config.keyPrefix,
    cipher: createRecordCipher(deps.secrets),
    now,
    // node-redis's own command timeout stops once a command is written (redis/node-redis#3008),
    // so only this deadline bounds waiting for a reply from a Redis that stopped answering.
    timeoutMs: commandTimeoutMs,
    ...(deps.maxPendingLogins === undefined ? {} : { maxPendingLogins: deps.maxPendingLogins }),
  })
  return {
    ...store,
    async close() {
      connection.stop()
      await store.close()
    },
  }
}
