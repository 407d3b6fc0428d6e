import { BasicClientSideCache, BasicPooledClientSideCache, createClient, createCluster, createSentinel } from 'redis'
import type { StoreConfig } from '../config/types.ts'
import { HOT_SESSIONS, type KeyChanges, type PubSub, type RedisCommandClient } from './redis.ts'

type RedisStoreConfig = Exclude<StoreConfig, { readonly type: 'memory' }>

/** A node-redis client of any topology, as the store factory drives it. */
export interface ConnectableRedisClient extends RedisCommandClient {
  connect(): Promise<unknown>
  on(event: string, listener: (value: unknown) => void): unknown
  /** node-redis' client-side cache of read replies, kept true by Redis' invalidation messages. */
  readonly clientSideCache?: { clear(): void } | undefined
}

// Read replies kept per instance (see HOT_SESSIONS), true while the connection that tracks them lives.
const CACHE_OPTIONS = { ttl: 0, maxEntries: HOT_SESSIONS, evictPolicy: 'LRU' as const }

type Listener = (key: string | undefined) => void

/**
 * node-redis' client-side cache, telling listeners whenever it drops a key (Redis said it changed) or
 * everything (a connection failed or closed, Redis said "all", the heartbeat cleared it): the store
 * keeps opened records exactly as long as node-redis keeps the replies they came from.
 */
function notifying<C extends typeof BasicClientSideCache | typeof BasicPooledClientSideCache>(Base: C): { cache: InstanceType<C>; changes: KeyChanges } {
  const listeners: Listener[] = []
  const tell = (key: string | undefined) => { for (const listener of listeners) listener(key) }
  const Notifying = class extends (Base as typeof BasicClientSideCache) {
    override invalidate(key: Parameters<BasicClientSideCache['invalidate']>[0]): void {
      super.invalidate(key)
      tell(key === null ? undefined : key.toString())
    }
    override clear(resetStats?: boolean): void {
      super.clear(resetStats)
      tell(undefined)
    }
  }
  return { cache: new Notifying(CACHE_OPTIONS) as InstanceType<C>, changes: { onChange: (listener) => { listeners.push(listener) } } }
}

export interface RedisClientTimeouts {
  /** How long one TCP (+TLS) connect may take before it counts as failed and is retried. */
  readonly connectMs: number
  /** How long one command may wait to be written (node-redis stops timing it once it is sent). */
  readonly commandMs: number
}

// Never give up: the process must recover by itself when Redis comes back (SPEC "Errors").
// Backoff with jitter, capped at 2 s so recovery is noticed quickly.
function reconnectStrategy(retries: number): number {
  return Math.min(100 * 2 ** retries, 2000) + Math.floor(Math.random() * 100)
}

/** Credentials and TLS from a redis:// or rediss:// URL, for clients configured without a URL. */
function fromUrl(url: string, defaultPort: number): { username?: string; password?: string; tls: boolean; host: string; port: number } {
  const parsed = new URL(url)
  return {
    ...(parsed.username === '' ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    tls: parsed.protocol === 'rediss:',
    host: parsed.hostname,
    port: parsed.port === '' ? defaultPort : Number(parsed.port),
  }
}

/**
 * Builds (does not connect) the node-redis client for a store config. Commands fail at once while
 * disconnected (`disableOfflineQueue`) instead of queueing until Redis returns; the socket keeps
 * reconnecting in the background meanwhile. (The store bounds the wait for replies itself.)
 */
/** Publish/subscribe for the store, and its own connection's end. */
export interface ClosablePubSub extends PubSub {
  close(): Promise<void>
}

export interface StoreClient {
  readonly client: ConnectableRedisClient
  readonly changes: KeyChanges
  readonly pubsub: ClosablePubSub
}

export function createRedisClient(config: RedisStoreConfig, timeouts: RedisClientTimeouts): StoreClient {
  const socket = { connectTimeout: timeouts.connectMs, reconnectStrategy }
  const commandOptions = { timeout: timeouts.commandMs }
  if (config.type === 'redis') {
    const { cache, changes } = notifying(BasicClientSideCache)
    // rediss:// in the URL turns TLS on; credentials and db come from the URL too.
    const client = createClient({ url: config.url, socket, disableOfflineQueue: true, commandOptions, RESP: 3, clientSideCache: cache })
    return { client, changes, pubsub: subscriberOf(client) }
  }
  const { cache: clientSideCache, changes } = notifying(BasicPooledClientSideCache)
  const client = createPooledClient(config, socket, commandOptions, clientSideCache)
  const channels = client as unknown as PooledPubSub
  const pubsub: ClosablePubSub = config.type === 'redis-cluster'
    // Sharded: each channel lives on its slot's shard; the cluster keeps a connection per shard for it.
    ? { publish: (c, m) => channels.sPublish(c, m), subscribe: (c, l) => channels.sSubscribe(c, l), unsubscribe: (c, l) => channels.sUnsubscribe(c, l), close: async () => {} }
    // The sentinel client keeps a subscriber connection to the current master itself.
    : { publish: (c, m) => channels.publish(c, m), subscribe: (c, l) => channels.subscribe(c, l), unsubscribe: (c, l) => channels.unsubscribe(c, l), close: async () => {} }
  return { client: client as ConnectableRedisClient, changes, pubsub }
}

type MessageListener = (message: string) => void
interface PooledPubSub {
  publish(channel: string, message: string): Promise<unknown>
  subscribe(channel: string, listener: MessageListener): Promise<unknown>
  unsubscribe(channel: string, listener: MessageListener): Promise<unknown>
  sPublish(channel: string, message: string): Promise<unknown>
  sSubscribe(channel: string, listener: MessageListener): Promise<unknown>
  sUnsubscribe(channel: string, listener: MessageListener): Promise<unknown>
}

/**
 * A single server's subscriptions, on a second connection (a subscribed RESP2-style connection takes
 * no other command), connected at the first subscription and resubscribed by node-redis after a
 * reconnect. Publishing goes through the main client.
 */
interface SubscriberClient {
  connect(): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
  subscribe(channel: string, listener: MessageListener): Promise<unknown>
  unsubscribe(channel: string, listener: MessageListener): Promise<unknown>
  close(): Promise<unknown>
  destroy(): unknown
}

function subscriberOf(client: { publish(channel: string, message: string): Promise<unknown>; duplicate(overrides: object): unknown }): ClosablePubSub {
  const subscriber = client.duplicate({ clientSideCache: undefined }) as SubscriberClient
  // An 'error' without a listener would crash the process; the main client's watcher logs outages.
  subscriber.on('error', () => {})
  let connected: Promise<unknown> | undefined
  const ready = () => (connected ??= subscriber.connect().catch((error: unknown) => {
    connected = undefined
    throw error
  }))
  return {
    publish: (channel, message) => client.publish(channel, message),
    async subscribe(channel, listener) {
      await ready()
      await subscriber.subscribe(channel, listener)
    },
    unsubscribe: (channel, listener) => subscriber.unsubscribe(channel, listener),
    async close() {
      if (connected === undefined) return
      await subscriber.close().catch(() => subscriber.destroy())
    },
  }
}

function createPooledClient(config: Exclude<RedisStoreConfig, { readonly type: 'redis' }>, socket: { connectTimeout: number; reconnectStrategy: typeof reconnectStrategy },
  commandOptions: { timeout: number }, clientSideCache: BasicPooledClientSideCache): ConnectableRedisClient {
  switch (config.type) {
    case 'redis-cluster': {
      const seed = fromUrl(config.nodes[0] ?? 'redis://localhost', 6379)
      // Connections to discovered nodes take only `defaults`, so credentials and TLS go there.
      const defaults = {
        ...(seed.username === undefined ? {} : { username: seed.username }),
        ...(seed.password === undefined ? {} : { password: seed.password }),
        disableOfflineQueue: true,
        socket: seed.tls ? { ...socket, tls: true as const } : socket,
      }
      return createCluster({
        rootNodes: config.nodes.map((url) => ({ url })), defaults, commandOptions, RESP: 3, clientSideCache,
        // Re-read the slots 1 s into a node's reconnecting (default 5 s): a replica promoted in its
        // place is found that much sooner (measured: 503s for 3.4 s after a master died, not 5.3 s).
        topologyRefreshOnReconnectionAttemptStrategy: 1000,
      })
    }
    case 'redis-sentinel': {
      const sentinels = config.sentinels.map((url) => fromUrl(url, 26379))
      const first = sentinels[0]
      // The first sentinel URL's credentials and TLS apply to the sentinels and to the master alike.
      const nodeOptions = {
        ...(first?.username === undefined ? {} : { username: first.username }),
        ...(first?.password === undefined ? {} : { password: first.password }),
        disableOfflineQueue: true,
        socket: first?.tls === true ? { ...socket, tls: true as const } : socket,
      }
      return createSentinel({
        name: config.masterName,
        sentinelRootNodes: sentinels.map(({ host, port }) => ({ host, port })),
        nodeClientOptions: nodeOptions,
        sentinelClientOptions: nodeOptions,
        commandOptions,
        RESP: 3,
        clientSideCache,
      })
    }
  }
}

interface ClusterNodes {
  readonly masters: ReadonlyArray<unknown>
  nodeClient(node: never): Promise<{ ping(): Promise<unknown> }>
}

/** PINGs every node the store's keys live on: the one server, the sentinel's master, or each cluster master. */
export function pingEveryNode(client: ConnectableRedisClient, type: RedisStoreConfig['type']): () => Promise<unknown> {
  if (type !== 'redis-cluster') return () => client.ping()
  const cluster = client as unknown as ClusterNodes
  return () => Promise.all(cluster.masters.map(async (master) => (await cluster.nodeClient(master as never)).ping()))
}
