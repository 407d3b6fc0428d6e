import { createHash, randomBytes } from 'node:crypto'
import { CloakroomError } from '../errors.ts'
import { withDeadline } from '../deadline.ts'
import { deepFreeze } from '../deep-freeze.ts'
import { parsePendingLogin, parseSessionRecord } from './parse-record.ts'
import type { RecordCipher } from './record-cipher.ts'
import { indexKeysOf, refreshLockName, sessionDeadline, type SessionRecord, type SessionStore } from './types.ts'
import { createLocalEvents, parseSessionEvent, type SessionEvent, type SessionEventListener } from './session-events.ts'
import { FAILED_PREFIX, indexName, MAX_PENDING_LOGINS, tooManyPendingLogins } from './index-name.ts'

/**
 * How many sessions one instance keeps at hand: read replies in node-redis' client-side cache (RESP3
 * CLIENT TRACKING: Redis tells every instance when a key it read changes, and the entry goes; a lost
 * connection drops them all), and their records opened. Under 4 KB per session for both.
 */
export const HOT_SESSIONS = 50_000

/**
 * Redis publish/subscribe as the store uses it: on a single server or a sentinel's master, PUBLISH and
 * SUBSCRIBE on a connection of their own; on a cluster, sharded (SPUBLISH, SSUBSCRIBE), each channel on
 * the shard of its session's slot.
 */
export interface PubSub {
  publish(channel: string, message: string): Promise<unknown>
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>
  unsubscribe(channel: string, listener: (message: string) => void): Promise<unknown>
}

/** Tells of keys whose cached replies node-redis dropped: a key, or undefined for all of them. */
export interface KeyChanges {
  onChange(listener: (key: string | undefined) => void): void
}

interface ScriptArgs { keys: string[]; arguments: string[] }

/**
 * The node-redis commands the store uses. Clients from `createClient`, `createCluster` and
 * `createSentinel` all fit: every call names exactly one key, so it routes in a cluster.
 */
export interface RedisCommandClient {
  set(key: string, value: string, options: { expiration: { type: 'PX'; value: number } }): Promise<unknown>
  sMembers(key: string): Promise<string[]>
  getDel(key: string): Promise<string | null>
  hGet(key: string, field: string): Promise<string | null>
  del(key: string): Promise<number>
  eval(script: string, options: ScriptArgs): Promise<unknown>
  evalSha(sha: string, options: ScriptArgs): Promise<unknown>
  ping(): Promise<unknown>
  close(): Promise<void>
  destroy(): unknown
}

export interface RedisStoreDeps {
  /** Owned by the store from now on: `close()` closes it. */
  readonly client: RedisCommandClient
  readonly keyPrefix: string
  readonly cipher: RecordCipher
  /** The clock, in epoch milliseconds (`Date.now` in production). */
  readonly now: () => number
  /**
   * Upper bound on one store call (default 2000 ms). node-redis times a command only until it is
   * written, and not at all while a sentinel rediscovers its master; this bounds the whole call.
   */
  readonly timeoutMs?: number
  /** Logins started per 10-minute window at most (default 100,000): a bound on pending logins held. */
  readonly maxPendingLogins?: number
  /**
   * The client-side cache's invalidations (RESP3 CLIENT TRACKING). Given, the store keeps the sessions
   * it read, opened, until Redis says they changed: a hot session then costs no Redis call, no
   * decryption and no parse. Without it every read goes to Redis.
   */
  readonly changes?: KeyChanges
  /** Session events across instances; without it, events reach only this process's subscribers. */
  readonly pubsub?: PubSub
}

interface Script { readonly source: string; readonly sha: string }

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

// Replaces the whole hash so no field of an earlier session under this id survives.
const CREATE = script(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'data', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 1`)

// Compare-and-set: a missing key gives false, which never equals ARGV[1], so a deleted or expired session stays gone.
// With a second key, fenced too: only while that lock holds ARGV[5] (-1 otherwise).
const UPDATE = script(`
if KEYS[2] and redis.call('GET', KEYS[2]) ~= ARGV[5] then return -1 end
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'data', ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
return 1`)

// Counts a login start in the current window and keeps the count for two windows.
const COUNT = script(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`)

// Counts one down, never creating a key (which would have no TTL).
const UNCOUNT = script(`
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0`)

// Adds a session id to an index set and keeps the set until the newest member's absolute expiry.
const INDEX = script(`
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`)

// EXISTS, but as a script: node-redis never answers a script from its client-side cache, and a cached
// EXISTS could outlive the key's TTL (Redis only says a key expired once something touches it).
const HAS_MARKER = script(`return redis.call('EXISTS', KEYS[1])`)

// Takes a free lock ({'taken'}), or reports who has it ({'held', holder id}); a failure marker is
// reported ({'failed', id}) only to the caller that waited for that attempt (ARGV[4]), anyone else
// takes over. Holder ids are the first 16 hex digits of SHA-1(token), as holderId() computes.
const LOCK = script(`
local held = redis.call('GET', KEYS[1])
if held then
  if string.sub(held, 1, #ARGV[3]) ~= ARGV[3] then return {'held', string.sub(redis.sha1hex(held), 1, 16)} end
  local failed = string.sub(held, #ARGV[3] + 1)
  if failed == ARGV[4] then return {'failed', failed} end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {'taken', ''}`)

// Keeps (or takes back, once expired) a lock for its holder; 0 when another holds it.
const EXTEND = script(`
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`)

// Compare-and-delete (or compare-and-mark-failed): a holder whose lock expired and was taken by
// another must not free it.
const UNLOCK = script(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[3] .. string.sub(redis.sha1hex(ARGV[1]), 1, 16), 'PX', ARGV[2])
return 1`)

function storeUnavailable(cause: unknown): CloakroomError {
  return new CloakroomError('store_unavailable', 'session store unavailable', { cause })
}

/** Runs `operation` within `timeoutMs`, turning any failure into CloakroomError('store_unavailable'). */
async function guarded<T>(timeoutMs: number, operation: () => Promise<T>): Promise<T> {
  try {
    return await withDeadline(operation(), timeoutMs, () => {
      throw new Error(`no answer within ${timeoutMs} ms`)
    })
  } catch (cause) {
    throw storeUnavailable(cause)
  }
}

const COUNT_WINDOW_MS = 600_000
const countWindow = (epochMs: number): number => Math.floor(epochMs / COUNT_WINDOW_MS)

/** A TTL as Redis takes it: whole milliseconds, at least one. */
function millis(ms: number): string {
  return String(Math.max(1, Math.round(ms)))
}

function expiresAtMillis(session: SessionRecord): number {
  return Math.floor(sessionDeadline(session) * 1000)
}

interface HotSessions {
  /** The record of a session read before and unchanged since, as far as Redis has said. */
  get(key: string): SessionRecord | undefined
  /** Starts a read of `key` from Redis: its result may be kept only if Redis said nothing of the key meanwhile. */
  reading(key: string): { keep(session: SessionRecord): void; done(): void }
  forget(key: string): void
}

/**
 * The sessions this instance read, opened, kept while node-redis' client-side cache keeps their
 * replies: Redis tells every connection that read a key when it changes (RESP3 CLIENT TRACKING), before
 * it answers anything later, and node-redis drops everything when a connection fails. A read that was
 * in flight when its key changed (or everything was dropped) is not kept. At most HOT_SESSIONS.
 */
function hotSessions(changes: KeyChanges | undefined): HotSessions {
  const kept = new Map<string, SessionRecord>()
  // Reads in flight per key, and whether the key changed since they began.
  const reads = new Map<string, { readers: number; changed: boolean }>()
  changes?.onChange((key) => {
    if (key === undefined) {
      kept.clear()
      for (const read of reads.values()) read.changed = true
      return
    }
    kept.delete(key)
    const read = reads.get(key)
    if (read !== undefined) read.changed = true
  })
  return {
    get: (key) => kept.get(key),
    reading(key) {
      const read = reads.get(key) ?? { readers: 0, changed: false }
      reads.set(key, read)
      read.readers++
      return {
        keep(session) {
          if (changes === undefined || read.changed) return
          if (kept.size >= HOT_SESSIONS) kept.delete(kept.keys().next().value ?? '')
          kept.set(key, session)
        },
        done() {
          if (--read.readers === 0) reads.delete(key)
        },
      }
    },
    forget: (key) => { kept.delete(key) },
  }
}

/**
 * A SessionStore on Redis. A session is a hash `{ version, data }`: `version` in clear for the
 * compare-and-set, `data` the whole record sealed by `cipher` with the key as AAD, so reading Redis
 * yields no token, claim or PKCE verifier, and a blob copied under another key does not open.
 * Every key carries a TTL, so Redis drops dead sessions and abandoned logins by itself.
 */
export function createRedisStore({ client, keyPrefix, cipher, now, timeoutMs = 2000, maxPendingLogins = MAX_PENDING_LOGINS, changes, pubsub }: RedisStoreDeps): SessionStore {
  const bounded = <T>(operation: () => Promise<T>): Promise<T> => guarded(timeoutMs, operation)
  // The braces are a Redis Cluster hash tag, shared with refreshLockName(id): one slot for both.
  const sessionKey = (id: string): string => `${keyPrefix}session:{${id}}`
  const markerKey = (name: string): string => `${keyPrefix}marker:${name}`
  const pendingCountKey = (window: number): string => `${keyPrefix}pending-logins:${window}`
  const loginKey = (state: string): string => `${keyPrefix}login:${state}`
  const indexKey = (by: Parameters<SessionStore['sessionsOf']>[0]): string => `${keyPrefix}index:${indexName(by)}`
  const lockKey = (name: string): string => `${keyPrefix}lock:${name}`

  async function run(which: Script, key: string | string[], args: string[]): Promise<unknown> {
    const options = { keys: typeof key === 'string' ? [key] : key, arguments: args }
    try {
      return await client.evalSha(which.sha, options)
    } catch (error) {
      // After a restart or SCRIPT FLUSH the server no longer knows the script: send it once in full.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return client.eval(which.source, options)
    }
  }

  const hot = hotSessions(changes)
  // The session's hash tag: on a cluster, its events travel on the shard of its slot.
  const eventsChannel = (id: string): string => `${keyPrefix}events:{${id}}`
  const events = pubsub === undefined ? createLocalEvents() : {
    publish: (id: string, event: SessionEvent) => bounded(async () => { await pubsub.publish(eventsChannel(id), JSON.stringify(event)) }),
    async subscribe(id: string, listener: SessionEventListener) {
      const onMessage = (message: string) => {
        const event = parseSessionEvent(message)
        if (event !== undefined) listener(event)
      }
      await bounded(() => pubsub.subscribe(eventsChannel(id), onMessage))
      return () => bounded(async () => { await pubsub.unsubscribe(eventsChannel(id), onMessage) })
    },
  }

  function seal(session: SessionRecord, key: string): string[] {
    return [String(session.version), cipher.seal(JSON.stringify(session), key)]
  }

  return {
    kind: 'redis',

    async putPendingLogin(state, login, ttl) {
      // Logins in flight are counted per 10-minute window (a login is pending 10 minutes at most):
      // a start counts up, a callback counts down, abandoned ones leave with their window's key.
      const window = countWindow(login.createdAt * 1000)
      const pending = await bounded(() => run(COUNT, pendingCountKey(window), [String(2 * COUNT_WINDOW_MS)]))
      if (Number(pending) > maxPendingLogins) {
        await bounded(() => run(UNCOUNT, pendingCountKey(window), [])).catch(() => {})
        throw tooManyPendingLogins(Math.ceil(((window + 1) * COUNT_WINDOW_MS - now()) / 1000))
      }
      await bounded(async () => {
        const key = loginKey(state)
        const value = cipher.seal(JSON.stringify(login), key)
        await client.set(key, value, { expiration: { type: 'PX', value: Number(millis(ttl * 1000)) } })
      })
    },

    takePendingLogin: (state) => bounded(async () => {
      const key = loginKey(state)
      // GETDEL: read and delete in one step, so two callbacks racing on one state cannot both win.
      const sealed = await client.getDel(key)
      const json = sealed === null ? undefined : cipher.open(sealed, key)
      const login = json === undefined ? undefined : parsePendingLogin(json)
      if (login !== undefined) await run(UNCOUNT, pendingCountKey(countWindow(login.createdAt * 1000)), [])
      return login
    }),

    createSession: (session) => bounded(async () => {
      const key = sessionKey(session.id)
      await run(CREATE, key, [...seal(session, key), String(expiresAtMillis(session))])
      const keepMs = String(Math.max(1, session.absoluteExpiresAt * 1000 - now()))
      const indexes = indexKeysOf(session)
      // One key per call, so each routes to its own node in a cluster.
      await Promise.all(indexes.map((by) => run(INDEX, indexKey(by), [session.id, keepMs])))
    }),

    async getSession(id) {
      const key = sessionKey(id)
      const session = hot.get(key) ?? await bounded(async () => {
        const read = hot.reading(key)
        try {
          const sealed = await client.hGet(key, 'data')
          const json = sealed === null ? undefined : cipher.open(sealed, key)
          // Frozen: every reader of a hot session shares the object.
          const opened = json === undefined ? undefined : deepFreeze(parseSessionRecord(json))
          if (opened !== undefined) read.keep(opened)
          return opened
        } finally {
          read.done()
        }
      })
      // Redis expires the key by its own clock; this check keeps our clock authoritative when they differ.
      if (session === undefined || now() >= expiresAtMillis(session)) return undefined
      return session
    },

    updateSession: (session) => bounded(async () => {
      const key = sessionKey(session.id)
      const args = [String(session.version - 1), ...seal(session, key), String(expiresAtMillis(session))]
      return (await run(UPDATE, key, args)) === 1
    }),

    updateSessionFenced: (session, lockToken) => bounded(async () => {
      const key = sessionKey(session.id)
      const args = [String(session.version - 1), ...seal(session, key), String(expiresAtMillis(session)), lockToken]
      const answer = await run(UPDATE, [key, lockKey(refreshLockName(session.id))], args)
      return answer === 1 ? 'updated' : answer === -1 ? 'fenced' : 'conflict'
    }),

    deleteSession: (id) => bounded(async () => {
      hot.forget(sessionKey(id))
      await client.del(sessionKey(id))
    }),

    sessionsOf: (by) => bounded(() => client.sMembers(indexKey(by))),

    acquireLock: (name, ttlMs, waitedFor = '') => bounded(async () => {
      const token = randomBytes(16).toString('base64url')
      const [outcome, holder] = await run(LOCK, lockKey(name), [token, millis(ttlMs), FAILED_PREFIX, waitedFor]) as [string, string]
      return outcome === 'taken' ? { token } : { token: undefined, holder, failed: outcome === 'failed' }
    }),

    extendLock: (name, token, ttlMs) => bounded(async () => (await run(EXTEND, lockKey(name), [token, millis(ttlMs)])) === 1),

    releaseLock: (name, token, failedForMs = 0) => bounded(async () => {
      await run(UNLOCK, lockKey(name), [token, String(Math.max(0, Math.round(failedForMs))), FAILED_PREFIX])
    }),

    putMarker: (name, ttlMs) => bounded(async () => {
      await client.set(markerKey(name), '1', { expiration: { type: 'PX', value: Number(millis(ttlMs)) } })
    }),

    hasMarker: (name) => bounded(async () => (await run(HAS_MARKER, markerKey(name), [])) === 1),

    publish: events.publish,
    subscribe: events.subscribe,

    ping: () => bounded(async () => {
      await client.ping()
    }),

    async close() {
      // close() waits for replies still due; bound that wait, then drop the connection regardless,
      // so shutdown cannot hang on a Redis that stopped answering.
      // A client that is already closed (or never connected) rejects, or throws at once: both mean done.
      const closed = Promise.resolve().then(() => client.close()).then(() => true, () => true)
      const done = await withDeadline(closed, timeoutMs, () => false)
      if (!done) await Promise.resolve().then(() => client.destroy()).catch(() => {})
    },
  }
}
