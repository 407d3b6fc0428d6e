import { setTimeout as sleep } from 'node:timers/promises'
import type { ConnectableRedisClient } from './redis-client.ts'
import { withDeadline } from '../deadline.ts'

/** The slice of the pino logger the store writes to. */
export interface StoreLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface BackgroundConnection {
  /** Resolves true once connected, or false when `waitMs` passes first (connecting goes on). */
  waitUntilReady(waitMs: number): Promise<boolean>
  /** Stops retrying; call before closing the client. */
  stop(): void
  /** Reports the store lost (logged once until it is back), for failures the client's events do not tell. */
  down(error: unknown): void
  /** Reports the store answering again. */
  up(): void
}

/**
 * Logs one line when the connection is lost and one when it is back, however many retries lie
 * between, so a long outage does not flood the log. The 'error' listener is also what keeps
 * node-redis's errors from crashing the process (an EventEmitter 'error' without listener throws).
 */
function watchConnection(client: ConnectableRedisClient, store: string, log: StoreLog): { down(err: unknown): void; up(): void } {
  let healthy = true
  const down = (err: unknown): void => {
    if (!healthy) return
    healthy = false
    log.error({ err, store }, 'session store connection failed; retrying in the background')
  }
  const up = (): void => {
    if (healthy) return
    healthy = true
    log.info({ store }, 'session store connection restored')
  }
  client.on('error', down)
  // Single clients and sentinels say 'ready'; a cluster says 'connect' once it knows its topology.
  client.on('ready', up)
  client.on('connect', up)
  return { down, up }
}

/**
 * Connects `client` without ever giving up: a single client retries inside `connect()` by its
 * reconnect strategy; a cluster or sentinel rejects when no seed answers, so we call again after a pause.
 */
export function connectInBackground(client: ConnectableRedisClient, store: string, log: StoreLog): BackgroundConnection {
  const watcher = watchConnection(client, store, log)
  let stopped = false

  async function connectLoop(): Promise<boolean> {
    for (let attempt = 0; !stopped; attempt++) {
      try {
        await client.connect()
        return true
      } catch (err) {
        if (stopped) break
        watcher.down(err)
        // ref: false so a pending retry never keeps the process alive on shutdown.
        await sleep(Math.min(250 * 2 ** attempt, 5000), undefined, { ref: false })
      }
    }
    return false
  }

  const connected = connectLoop()
  return {
    waitUntilReady: (waitMs) => withDeadline(connected, waitMs, () => false),
    stop() {
      stopped = true
    },
    down: watcher.down,
    up: watcher.up,
  }
}

/**
 * One try, for `cloakroom check`: connects `client` and sends PING. Resolves undefined once Redis
 * answers (the client stays connected), else with the first error (a refused connection, a wrong
 * password) or a timeout after `waitMs`, having destroyed the client. No retries, no log lines.
 */
export async function connectOnce(client: ConnectableRedisClient, waitMs: number): Promise<unknown> {
  // Rejects on the first failed attempt: a single client would otherwise retry inside connect().
  // The listener stays, so a later error cannot crash the process for want of one.
  const failed = new Promise<never>((_resolve, reject) => { client.on('error', reject) })
  const answered = (async () => {
    await client.connect()
    await client.ping()
  })()
  answered.catch(() => {})
  try {
    await withDeadline(Promise.race([answered, failed]), waitMs, () => {
      throw new Error(`no answer within ${waitMs / 1000}s`)
    })
    return undefined
  } catch (error) {
    await Promise.resolve().then(() => client.destroy()).catch(() => {})
    return error
  }
}
