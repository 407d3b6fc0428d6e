import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRecordCipher } from './record-cipher.ts'
import { createRedisStore, type KeyChanges, type RedisCommandClient } from './redis.ts'
import { sampleSession } from './store-contract.ts'

// The store keeps the sessions it read until the client-side cache says their key changed. A fake
// client answers HGET from a sealed record and counts the calls; `change` plays Redis' invalidations.

const cipher = createRecordCipher(['hot-sessions-test-secret-0123456789abcdef'])
const key = (id: string) => `t:session:{${id}}`

function fakeRedis() {
  const sealed = new Map<string, string>()
  const gates: Array<() => void> = []
  let gated = false
  let reads = 0
  const listeners: Array<(key: string | undefined) => void> = []
  const client = {
    async hGet(k: string) {
      reads++
      if (gated) await new Promise<void>((resolve) => gates.push(resolve))
      return sealed.get(k) ?? null
    },
  } as unknown as RedisCommandClient
  const changes: KeyChanges = { onChange: (listener) => { listeners.push(listener) } }
  return {
    client, changes,
    put(session: ReturnType<typeof sampleSession>) { sealed.set(key(session.id), cipher.seal(JSON.stringify(session), key(session.id))) },
    change: (k: string | undefined) => { for (const listener of listeners) listener(k) },
    reads: () => reads,
    hold() { gated = true },
    release() { gated = false; for (const open of gates.splice(0)) open() },
  }
}

function storeOn(redis: ReturnType<typeof fakeRedis>) {
  return createRedisStore({ client: redis.client, keyPrefix: 't:', cipher, now: Date.now, changes: redis.changes })
}

test('a session read once is served again without Redis until its key changes', async () => {
  const redis = fakeRedis()
  const session = sampleSession(Date.now() / 1000)
  redis.put(session)
  const store = storeOn(redis)
  assert.deepEqual(await store.getSession(session.id), session)
  assert.deepEqual(await store.getSession(session.id), session)
  assert.equal(redis.reads(), 1)
  const updated = { ...session, version: session.version + 1 }
  redis.put(updated)
  redis.change(key(session.id))
  assert.deepEqual(await store.getSession(session.id), updated)
  assert.equal(redis.reads(), 2)
})

test('a key that changes while its read is in flight: that read is answered but not kept', async () => {
  const redis = fakeRedis()
  const session = sampleSession(Date.now() / 1000)
  redis.put(session)
  const store = storeOn(redis)
  redis.hold()
  const inFlight = store.getSession(session.id)
  redis.change(key(session.id))
  redis.release()
  assert.deepEqual(await inFlight, session)
  await store.getSession(session.id)
  assert.equal(redis.reads(), 2, 'the second read went to Redis')
})

test('"everything changed" (a lost connection, a cleared cache) drops every kept session and every read in flight', async () => {
  const redis = fakeRedis()
  const [a, b] = [sampleSession(Date.now() / 1000), sampleSession(Date.now() / 1000)]
  redis.put(a)
  redis.put(b)
  const store = storeOn(redis)
  await store.getSession(a.id)
  redis.hold()
  const inFlight = store.getSession(b.id)
  redis.change(undefined)
  redis.release()
  await inFlight
  await store.getSession(a.id)
  await store.getSession(b.id)
  assert.equal(redis.reads(), 4)
})

test('without invalidations to rely on, nothing is kept', async () => {
  const redis = fakeRedis()
  const session = sampleSession(Date.now() / 1000)
  redis.put(session)
  const store = createRedisStore({ client: redis.client, keyPrefix: 't:', cipher, now: Date.now })
  await store.getSession(session.id)
  await store.getSession(session.id)
  assert.equal(redis.reads(), 2)
})

test('a kept session past its deadline is no session', async () => {
  const redis = fakeRedis()
  let clock = Date.now()
  const session = sampleSession(clock / 1000, 60)
  redis.put(session)
  const store = createRedisStore({ client: redis.client, keyPrefix: 't:', cipher, now: () => clock, changes: redis.changes })
  assert.ok(await store.getSession(session.id))
  clock += 61_000
  assert.equal(await store.getSession(session.id), undefined)
})
