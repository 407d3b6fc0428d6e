import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient } from 'redis'
import { CloakroomError } from '../src/errors.ts'
import { createStore, type StoreLog } from '../src/store/create-store.ts'
import { assertHoldsNoSecret, fillWithSecrets, samplePendingLogin, sampleSession, storeContract, until } from '../src/store/store-contract.ts'
import type { SessionStore } from '../src/store/types.ts'
import { startRedis, type RedisServer } from './fixtures/redis-server.ts'
import { freePort } from './fixtures/free-port.ts'

const SECRETS = ['e2e-store-secret-0123456789abcdef-0123456789']

function recordingLog(): StoreLog & { lines: string[] } {
  const lines: string[] = []
  return { lines, info: (_obj, msg) => lines.push(`info ${msg}`), warn: (_obj, msg) => lines.push(`warn ${msg}`), error: (_obj, msg) => lines.push(`error ${msg}`) }
}

interface StoreOptions { keyPrefix?: string; log?: StoreLog; now?: () => number; connectTimeoutMs?: number; commandTimeoutMs?: number; maxPendingLogins?: number }

function redisStore(url: string, { keyPrefix = `e2e:${randomUUID()}:`, log = recordingLog(), now = Date.now, ...timeouts }: StoreOptions = {}): Promise<SessionStore> {
  return createStore({ type: 'redis', url, keyPrefix }, { secrets: SECRETS, log, now, ...timeouts })
}

async function rawClient(url: string) {
  const client = createClient({ url })
  client.on('error', () => {})
  await client.connect()
  return client
}

/** The call must reject with store_unavailable (cause kept) within `withinMs`, not hang. */
async function expectUnavailable(call: () => Promise<unknown>, withinMs = 2000): Promise<void> {
  const started = Date.now()
  await assert.rejects(call(), (error: unknown) => {
    assert.ok(error instanceof CloakroomError, String(error))
    assert.equal(error.code, 'store_unavailable')
    assert.notEqual(error.cause, undefined)
    return true
  })
  assert.ok(Date.now() - started < withinMs, `took ${Date.now() - started} ms`)
}

async function eventually(check: () => Promise<unknown>, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs
  for (;;) {
    try {
      await check()
      return
    } catch (error) {
      if (Date.now() > deadline) throw error
      await sleep(100)
    }
  }
}

let redis: RedisServer
before(async () => { redis = await startRedis() })
after(() => redis.stop())

storeContract('redis', async (options) => {
  const store = await redisStore(redis.url, options)
  return { store, clock: undefined, cleanup: () => store.close() }
})

test('an event published through one instance\'s store reaches a subscriber on another\'s, and survives the subscriber\'s reconnect', async () => {
  const keyPrefix = `e2e:${randomUUID()}:`
  const [a, b] = await Promise.all([redisStore(redis.url, { keyPrefix }), redisStore(redis.url, { keyPrefix })])
  after(() => Promise.all([a.close(), b.close()]))
  const session = randomUUID()
  const heard: string[] = []
  const stop = await b.subscribe(session, (event) => heard.push(JSON.stringify(event)))
  await a.publish(session, { type: 'ended', reason: 'backchannel' })
  await until(() => heard.length === 1)
  assert.deepEqual(heard, ['{"type":"ended","reason":"backchannel"}'])
  // Whatever else is published on the channel (anyone with access to Redis can) is not an event.
  const raw = createClient({ url: redis.url })
  await raw.connect()
  await raw.publish(`${keyPrefix}events:{${session}}`, '{"type":"ended","reason":"because"}')
  await raw.publish(`${keyPrefix}events:{${session}}`, 'not json')
  // Every subscriber connection dropped: node-redis reconnects and subscribes again.
  await raw.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub'])
  await raw.close()
  await until(async () => {
    await a.publish(session, { type: 'changed' })
    return heard.includes('{"type":"changed"}')
  }, 5000)
  assert.deepEqual(heard.filter((line) => !line.includes('changed')), ['{"type":"ended","reason":"backchannel"}'])
  await stop()
})

describe('redis store, seen from inside Redis', () => {
  test('nothing in Redis reveals a token, the subject, a claim or the PKCE verifier', async () => {
    const prefix = `e2e:${randomUUID()}:`
    const store = await redisStore(redis.url, { keyPrefix: prefix })
    const raw = await rawClient(redis.url)
    after(async () => { await raw.close(); await store.close() })
    const { session, login } = await fillWithSecrets(store)

    const keys = (await raw.keys(`${prefix}*`)).sort()
    const indexKeys = keys.filter((key) => key.startsWith(`${prefix}index:`))
    // The count of logins in flight: a number, with a TTL.
    const counters = keys.filter((key) => key.startsWith(`${prefix}pending-logins:`))
    assert.equal(counters.length, 1)
    assert.deepEqual(keys.filter((key) => !indexKeys.includes(key) && !counters.includes(key)), [`${prefix}login:state-1`, `${prefix}session:{${session.id}}`])
    assert.equal(indexKeys.length, 3, 'one index for the subject, one for the IdP sid, one for the public sid')
    const login1 = await raw.get(`${prefix}login:state-1`)
    const hash = await raw.hGetAll(`${prefix}session:{${session.id}}`)
    assert.deepEqual(Object.keys(hash).sort(), ['data', 'version'])
    assert.equal(hash['version'], '2')
    const indexMembers = await Promise.all(indexKeys.map((key) => raw.sMembers(key)))
    assert.deepEqual(indexMembers, [[session.id], [session.id], [session.id]])
    for (const key of indexKeys) assert.ok((await raw.pTTL(key)) > 0, `${key} has no TTL`)
    const dump = JSON.stringify([keys, login1, hash, indexMembers])
    assertHoldsNoSecret(dump, session, login)
  })

  test('every key carries a TTL at its deadline, and an update moves it', async () => {
    const prefix = `e2e:${randomUUID()}:`
    const store = await redisStore(redis.url, { keyPrefix: prefix })
    const raw = await rawClient(redis.url)
    after(async () => { await raw.close(); await store.close() })
    const at = Math.floor(Date.now() / 1000)
    const idleFirst = sampleSession(at, 1800, 3600)
    const absoluteFirst = sampleSession(at, 3600, 900)
    await store.createSession(idleFirst)
    await store.createSession(absoluteFirst)
    await store.putPendingLogin('state-ttl', samplePendingLogin(at), 600)

    const ttlNear = async (key: string, expectedMs: number): Promise<void> => {
      const ttl = await raw.pTTL(key)
      assert.ok(ttl > 0 && Math.abs(ttl - expectedMs) < 2500, `${key}: PTTL ${ttl}, expected about ${expectedMs}`)
    }
    await ttlNear(`${prefix}session:{${idleFirst.id}}`, (at + 1800) * 1000 - Date.now())
    await ttlNear(`${prefix}session:{${absoluteFirst.id}}`, (at + 900) * 1000 - Date.now())
    await ttlNear(`${prefix}login:state-ttl`, 600_000)

    assert.equal(await store.updateSession({ ...idleFirst, version: 2, idleExpiresAt: at + 3000 }), true)
    await ttlNear(`${prefix}session:{${idleFirst.id}}`, (at + 3000) * 1000 - Date.now())
  })

  test('a record copied under another key does not open there; garbage reads as nothing', async () => {
    const prefix = `e2e:${randomUUID()}:`
    const store = await redisStore(redis.url, { keyPrefix: prefix })
    const raw = await rawClient(redis.url)
    after(async () => { await raw.close(); await store.close() })
    const at = Math.floor(Date.now() / 1000)
    const [victim, attacker] = [sampleSession(at), sampleSession(at)]
    await store.createSession(victim)
    await store.createSession(attacker)
    const victimData = await raw.hGet(`${prefix}session:{${victim.id}}`, 'data')
    assert.ok(victimData !== null)
    await raw.hSet(`${prefix}session:{${attacker.id}}`, 'data', victimData)
    assert.equal(await store.getSession(attacker.id), undefined)

    await store.putPendingLogin('victim', samplePendingLogin(at), 600)
    await store.putPendingLogin('attacker', samplePendingLogin(at), 600)
    const loginData = await raw.get(`${prefix}login:victim`)
    assert.ok(loginData !== null)
    await raw.set(`${prefix}login:attacker`, loginData)
    assert.equal(await store.takePendingLogin('attacker'), undefined)

    await raw.hSet(`${prefix}session:garbage`, { version: '1', data: 'not-a-sealed-record' })
    assert.equal(await store.getSession('garbage'), undefined)
  })

  test('our clock decides: a session past its deadline by our clock is gone though Redis still holds it', async () => {
    const prefix = `e2e:${randomUUID()}:`
    const store = await redisStore(redis.url, { keyPrefix: prefix, now: () => Date.now() + 600_000 })
    const raw = await rawClient(redis.url)
    after(async () => { await raw.close(); await store.close() })
    const session = sampleSession(Math.floor(Date.now() / 1000), 300, 3600) // idle deadline 5 min from now
    await store.createSession(session)
    assert.equal(await raw.exists(`${prefix}session:{${session.id}}`), 1)
    assert.equal(await store.getSession(session.id), undefined)
  })

  test('updates keep working after Redis forgets its scripts (SCRIPT FLUSH)', async () => {
    const store = await redisStore(redis.url)
    const raw = await rawClient(redis.url)
    after(async () => { await raw.close(); await store.close() })
    const session = sampleSession(Math.floor(Date.now() / 1000))
    await store.createSession(session)
    await raw.scriptFlush()
    assert.equal(await store.updateSession({ ...session, version: 2 }), true)
    assert.equal((await store.getSession(session.id))?.version, 2)
  })
})

describe('redis store when Redis goes away', () => {
  test('calls fail fast with store_unavailable while Redis is down, and the same store recovers', async () => {
    const server = await startRedis()
    const log = recordingLog()
    const store = await redisStore(server.url, { log })
    after(async () => { try { await store.close() } finally { await server.stop() } })
    const at = Math.floor(Date.now() / 1000)
    const session = sampleSession(at)
    await store.createSession(session) // loads the scripts, which the restarted server will not know

    await server.halt()
    await expectUnavailable(() => store.getSession(session.id))
    await expectUnavailable(() => store.createSession(sampleSession(at)))
    await expectUnavailable(() => store.updateSession({ ...session, version: 2 }))
    await expectUnavailable(() => store.deleteSession(session.id))
    await expectUnavailable(() => store.putPendingLogin('s', samplePendingLogin(at), 600))
    await expectUnavailable(() => store.takePendingLogin('s'))
    await expectUnavailable(() => store.ping())
    assert.ok(log.lines.some((line) => line.startsWith('error ')), log.lines.join('\n'))

    await server.restart()
    await eventually(() => store.ping(), 10_000)
    const fresh = sampleSession(at)
    await store.createSession(fresh)
    assert.equal(await store.updateSession({ ...fresh, version: 2 }), true)
    assert.deepEqual(await store.getSession(fresh.id), { ...fresh, version: 2 })
    assert.ok(log.lines.some((line) => line.startsWith('info ')), log.lines.join('\n'))
  })

  test('with Redis down at startup the store is still created, and connects once Redis starts', async () => {
    const port = await freePort()
    const started = Date.now()
    const store = await redisStore(`redis://127.0.0.1:${port}`, { connectTimeoutMs: 300 })
    after(() => store.close())
    assert.ok(Date.now() - started < 2000, `createStore took ${Date.now() - started} ms`)
    await expectUnavailable(() => store.getSession('any'))

    const server = await startRedis({ port })
    after(() => server.stop())
    await eventually(() => store.ping(), 10_000)
    const session = sampleSession(Math.floor(Date.now() / 1000))
    await store.createSession(session)
    assert.deepEqual(await store.getSession(session.id), session)
  })

  test('a Redis that stops answering: calls fail after the command timeout, and work again once it answers', async () => {
    const server = await startRedis()
    after(() => server.stop())
    const store = await redisStore(server.url, { commandTimeoutMs: 300 })
    const raw = await rawClient(server.url)
    after(async () => { await raw.close(); await store.close() })
    const session = sampleSession(Math.floor(Date.now() / 1000))
    await store.createSession(session)

    await raw.clientPause(1500, 'ALL') // the connection stays up; Redis just does not reply
    await expectUnavailable(() => store.getSession(session.id), 1000)
    // Late replies to the timed-out command must not be taken for answers to later ones.
    await eventually(async () => assert.deepEqual(await store.getSession(session.id), session), 5000)
    assert.equal(await store.getSession(randomUUID()), undefined)
  })
})
