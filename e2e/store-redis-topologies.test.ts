import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { createClient } from 'redis'
import type { StoreConfig } from '../src/config/types.ts'
import { createStore, type StoreLog } from '../src/store/create-store.ts'
import { assertHoldsNoSecret, fillWithSecrets, sampleSession, storeContract, until, type ContractStoreOptions } from '../src/store/store-contract.ts'
import type { SessionStore } from '../src/store/types.ts'
import { startRedisCluster, type RedisCluster } from './fixtures/redis-cluster.ts'
import { startRedisSentinel, type RedisSentinel } from './fixtures/redis-sentinel.ts'

const SECRETS = ['e2e-store-secret-0123456789abcdef-0123456789']
const quiet: StoreLog = { info: () => {}, warn: () => {}, error: () => {} }

let cluster: RedisCluster
let sentinel: RedisSentinel
// Both at once: each spends most of its start-up waiting on its servers.
before(async () => {
  const results = await Promise.allSettled([startRedisCluster(), startRedisSentinel()])
  const [started, watched] = results
  if (started.status === 'fulfilled' && watched.status === 'fulfilled') {
    cluster = started.value
    sentinel = watched.value
    return
  }
  await Promise.all(results.map((result) => result.status === 'fulfilled' ? result.value.stop() : undefined))
  throw results.flatMap((result) => result.status === 'rejected' ? [result.reason] : [])[0]
})
after(async () => { await Promise.all([cluster?.stop(), sentinel?.stop()]) })

/** A fresh prefix per store, so stores sharing one Redis never see each other's keys. */
const newPrefix = (): string => `e2e:${randomUUID()}:`

const clusterStore = (keyPrefix = newPrefix(), options: ContractStoreOptions = {}): Promise<SessionStore> =>
  createStore({ type: 'redis-cluster', nodes: cluster.nodes, keyPrefix }, { secrets: SECRETS, log: quiet, now: Date.now, ...options })

const sentinelStore = (keyPrefix = newPrefix(), options: ContractStoreOptions = {}): Promise<SessionStore> => {
  const config: StoreConfig = { type: 'redis-sentinel', sentinels: sentinel.sentinels, masterName: sentinel.masterName, keyPrefix }
  return createStore(config, { secrets: SECRETS, log: quiet, now: Date.now, ...options })
}

storeContract('redis-cluster', async (options) => {
  const store = await clusterStore(newPrefix(), options)
  return { store, clock: undefined, cleanup: () => store.close() }
})

storeContract('redis-sentinel', async (options) => {
  const store = await sentinelStore(newPrefix(), options)
  return { store, clock: undefined, cleanup: () => store.close() }
})

for (const [topology, open] of [['redis-cluster', clusterStore], ['redis-sentinel', sentinelStore]] as const) {
  test(`${topology}: an event published through one instance's store reaches a subscriber on another's`, async () => {
    const prefix = newPrefix()
    const [a, b] = await Promise.all([open(prefix), open(prefix)])
    after(() => Promise.all([a.close(), b.close()]))
    // Sessions on every shard of a cluster: each channel lives on its own session's slot.
    const sessions = Array.from({ length: 12 }, () => randomUUID())
    const heard: string[] = []
    const stops = await Promise.all(sessions.map((session) => b.subscribe(session, (event) => heard.push(`${session} ${event.type}`))))
    await Promise.all(sessions.map((session) => a.publish(session, { type: 'ended', reason: 'logout' })))
    await until(() => heard.length >= sessions.length)
    assert.deepEqual(heard.sort(), sessions.map((session) => `${session} ended`).sort())
    await Promise.all(stops.map((stop) => stop()))
  })
}

/** A plain client on each cluster node: it sees only the keys of the slots that node serves. */
async function nodeClients() {
  const clients = await Promise.all(cluster.nodes.map(async (url) => {
    const client = createClient({ url })
    client.on('error', () => {})
    await client.connect()
    return client
  }))
  after(() => Promise.all(clients.map((client) => client.close())))
  return clients
}

describe('redis-cluster store, seen from each node', () => {
  test('sessions spread over the nodes by their keys, and every one still works', async () => {
    const prefix = newPrefix()
    const store = await clusterStore(prefix)
    after(() => store.close())
    const clients = await nodeClients()
    const at = Math.floor(Date.now() / 1000)
    const sessions = Array.from({ length: 20 }, () => sampleSession(at))
    await Promise.all(sessions.map((session) => store.createSession(session)))

    const perNode = await Promise.all(clients.map((client) => client.keys(`${prefix}session:*`)))
    assert.ok(perNode.filter((keys) => keys.length > 0).length > 1, `all session keys on one node: ${perNode.map((keys) => keys.length).join('/')}`)
    assert.deepEqual(perNode.flat().sort(), sessions.map((session) => `${prefix}session:{${session.id}}`).sort(), 'each session on exactly one node')
    for (const session of sessions) {
      assert.deepEqual(await store.getSession(session.id), session)
      assert.equal(await store.updateSession({ ...session, version: 2 }), true)
      assert.deepEqual(await store.sessionsOf({ sub: session.sub }), [session.id])
    }
    for (const session of sessions) assert.equal((await store.getSession(session.id))?.version, 2)
  })

  test('no node reveals a token, the subject, a claim or the PKCE verifier', async () => {
    const prefix = newPrefix()
    const store = await clusterStore(prefix)
    after(() => store.close())
    const clients = await nodeClients()
    const { session, login } = await fillWithSecrets(store)

    const contents: unknown[] = []
    const keys: string[] = []
    for (const client of clients) {
      for (const key of await client.keys(`${prefix}*`)) {
        keys.push(key)
        const type = await client.type(key)
        if (type === 'string') contents.push(await client.get(key))
        else if (type === 'hash') contents.push(await client.hGetAll(key))
        else if (type === 'set') contents.push(await client.sMembers(key))
        else assert.fail(`${key} has unexpected type ${type}`)
      }
    }
    const indexKeys = keys.filter((key) => key.startsWith(`${prefix}index:`))
    // The count of logins in flight: a number, with a TTL.
    const counters = keys.filter((key) => key.startsWith(`${prefix}pending-logins:`))
    assert.equal(counters.length, 1)
    assert.deepEqual(keys.filter((key) => !indexKeys.includes(key) && !counters.includes(key)).sort(), [`${prefix}login:state-1`, `${prefix}session:{${session.id}}`])
    assert.equal(indexKeys.length, 3, 'one index for the subject, one for the IdP sid, one for the public sid')
    assert.ok(contents.some((value) => JSON.stringify(value) === JSON.stringify([session.id])), 'index sets hold the session id')
    const dump = JSON.stringify([keys, contents])
    assertHoldsNoSecret(dump, session, login)
  })
})
