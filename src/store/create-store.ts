import type { StoreConfig } from '../config/types.ts'
import { createMemoryStore } from './memory.ts'
import { createRecordCipher } from './record-cipher.ts'
import { createRedisClient, pingEveryNode } from './redis-client.ts'
import { guardClientCache } from './client-cache-guard.ts'
import { CloakroomError } from '../errors.ts'
import { connectInBackground, connectOnce, type StoreLog } from './redis-connection.ts'
import { createRedisStore } from './redis.ts'
import type { SessionStore } from './types.ts'
import { describeNetworkCode } from '../network-error.ts'

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
  /**
   * For `cloakroom check`: connect once and PING, with no retries and no log lines, and throw
   * store_unavailable, its cause naming the store (no password) and why, when that fails within
   * `connectTimeoutMs`. The server leaves it off and starts anyway, reconnecting in the background.
   */
  readonly oneShot?: boolean
}

/**
 * Builds the configured store. For Redis it connects, but waits at most `connectTimeoutMs`: when
 * Redis is down at startup the process still starts, calls fail with `store_unavailable`, and the
 * client keeps reconnecting in the background until Redis answers.
 */
export async function createStore(config: StoreConfig, deps: CreateStoreDeps): Promise<SessionStore> {
  const { log, now, connectTimeoutMs = 5000, commandTimeoutMs = 2000 } = deps
  if (config.type === 'memory') {
    if (deps.oneShot !== true) log.warn({ store: 'memory' }, 'memory session store: sessions live in this process only; do not run more than one instance')
    return createMemoryStore({ now, ...(deps.maxPendingLogins === undefined ? {} : { maxPendingLogins: deps.maxPendingLogins }) })
  }

  const { client, changes, pubsub } = createRedisClient(config, { connectMs: connectTimeoutMs, commandMs: commandTimeoutMs })
  let stopConnecting = () => {}
  let stopGuard = () => {}
  if (deps.oneShot === true) {
    const failure = await connectOnce(client, connectTimeoutMs)
    if (failure !== undefined) {
      const cause = new Error(`${storeTarget(config)}: ${describeStoreFailure(failure)}`, { cause: failure })
      throw new CloakroomError('store_unavailable', 'The session store is unavailable', { cause })
    }
  } else {
    const connection = connectInBackground(client, config.type, log)
    stopConnecting = connection.stop
    stopGuard = guardClientCache(client, pingEveryNode(client, config.type), { onDown: connection.down, onUp: connection.up }).stop
    if (!(await connection.waitUntilReady(connectTimeoutMs))) {
      log.warn({ store: config.type }, 'session store not reachable at startup; starting anyway and reconnecting in the background')
    }
  }

  const store = createRedisStore({
    client,
    keyPrefix: config.keyPrefix,
    cipher: createRecordCipher(deps.secrets),
    now,
    // node-redis's own command timeout stops once a command is written (redis/node-redis#3008),
    // so only this deadline bounds waiting for a reply from a Redis that stopped answering.
    timeoutMs: commandTimeoutMs,
    changes,
    pubsub,
    ...(deps.maxPendingLogins === undefined ? {} : { maxPendingLogins: deps.maxPendingLogins }),
  })
  return {
    ...store,
    async close() {
      stopGuard()
      stopConnecting()
      await pubsub.close()
      await store.close()
    },
  }
}

/** The store's address(es) as an operator wrote them, with any password shown as `***`. */
function storeTarget(config: Exclude<StoreConfig, { readonly type: 'memory' }>): string {
  switch (config.type) {
    case 'redis': return withoutPassword(config.url)
    case 'redis-cluster': return config.nodes.map(withoutPassword).join(', ')
    case 'redis-sentinel': return `${config.masterName} via ${config.sentinels.map(withoutPassword).join(', ')}`
  }
}

function withoutPassword(url: string): string {
  const parsed = new URL(url)
  if (parsed.password === '') return url
  return `${parsed.protocol}//${parsed.username}:***@${parsed.host}${parsed.pathname}${parsed.search}`
}

/** One line on why Redis did not answer: "connection refused (ECONNREFUSED)", "WRONGPASS …", a timeout. */
function describeStoreFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') return describeNetworkCode(code, error.message)
  if (error.name === 'ConnectionTimeoutError') return 'connection timed out'
  return error.message
}
