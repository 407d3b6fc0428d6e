import { test } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { CloakroomError } from '../errors.ts'
import { newSessionRecord } from '../session/rules.ts'
import { createMemoryStore } from '../store/memory.ts'
import type { SessionStore } from '../store/index.ts'
import { createSessionStreams, MAX_STREAMS_PER_SESSION } from './session-streams.ts'

/** Just enough of a ServerResponse for an event stream: what was written, and a browser that can leave. */
class FakeResponse extends EventEmitter {
  text = ''
  status: number | undefined
  destroyed = false
  writableEnded = false
  writeHead(status: number) { this.status = status; return this }
  write(chunk: string) { this.text += chunk; return true }
  end(chunk = '') {
    this.text += chunk
    this.writableEnded = true
    this.emit('close')
    return this
  }
  leave() {
    this.destroyed = true
    this.emit('close')
  }
}

const tokens = { accessToken: 'a', accessTokenExpiresAt: undefined, refreshToken: 'r', idToken: 'i', tokenType: 'Bearer', scope: undefined }

/** A memory store whose subscriptions answer only when `subscribed` is resolved (or fail, with `refuse`). */
function slowStore(options: { refuse?: boolean } = {}) {
  const inner = createMemoryStore({ now: Date.now })
  let release!: () => void
  const subscribed = new Promise<void>((resolve) => { release = resolve })
  const store: SessionStore = {
    ...inner,
    async subscribe(id, listener) {
      await subscribed
      if (options.refuse === true) throw new CloakroomError('store_unavailable', 'down')
      return inner.subscribe(id, listener)
    },
  }
  return { store, release }
}

async function withSession(store: SessionStore) {
  const session = newSessionRecord({ id: `s-${Math.random()}`, sub: 'alice', claims: { sub: 'alice' }, tokens }, { idleTimeout: 1800, absoluteTimeout: 43200 }, Math.floor(Date.now() / 1000))
  await store.createSession(session)
  return session
}

test('streams opened at once, before the subscription is in place, still stop at the limit', async () => {
  const { store, release } = slowStore()
  const streams = createSessionStreams({ store, now: Date.now })
  const session = await withSession(store)
  const responses = Array.from({ length: MAX_STREAMS_PER_SESSION + 8 }, () => new FakeResponse())
  const opened = responses.map((res) => streams.open(session, res as unknown as ServerResponse).then(() => 'closed', (error: unknown) => (error as CloakroomError).code))
  release()
  await sleep(10)
  assert.equal(streams.size, MAX_STREAMS_PER_SESSION)
  assert.equal(responses.filter((res) => res.status === 200).length, MAX_STREAMS_PER_SESSION)
  streams.close()
  const outcomes = await Promise.all(opened)
  assert.equal(outcomes.filter((outcome) => outcome === 'rate_limited').length, 8)
})

test('a browser that leaves while its stream waits for the subscription leaves nothing behind', async () => {
  const { store, release } = slowStore()
  const streams = createSessionStreams({ store, now: Date.now })
  const session = await withSession(store)
  const res = new FakeResponse()
  const opened = streams.open(session, res as unknown as ServerResponse)
  res.leave()
  release()
  await opened
  assert.equal(res.status, undefined, 'nothing is written to a browser that left')
  assert.equal(streams.size, 0)
  // The limit counts only streams that are there: a full set of new ones is still accepted.
  const more = Array.from({ length: MAX_STREAMS_PER_SESSION }, () => new FakeResponse())
  for (const next of more) void streams.open(session, next as unknown as ServerResponse)
  await sleep(10)
  assert.equal(streams.size, MAX_STREAMS_PER_SESSION)
  streams.close()
})

test('a session that ends before its streams\' subscription is in place: they hear ended all the same', async () => {
  const { store, release } = slowStore()
  const streams = createSessionStreams({ store, now: Date.now })
  const session = await withSession(store)
  const responses = [new FakeResponse(), new FakeResponse()]
  const opened = responses.map((res) => streams.open(session, res as unknown as ServerResponse))
  // Ended elsewhere while the subscription is pending: its event reaches no one here.
  await store.deleteSession(session.id)
  await store.publish(session.id, { type: 'ended', reason: 'logout' })
  release()
  await Promise.all(opened)
  for (const res of responses) assert.match(res.text, /event: ended\ndata: {"reason":"expired"}/)
  assert.equal(streams.size, 0)
  streams.close()
})

test('without a subscription (the store refused it), the stream reads its session every pollMs and still hears its end', async () => {
  const { store, release } = slowStore({ refuse: true })
  release()
  const streams = createSessionStreams({ store, now: Date.now, pollMs: 50 })
  const session = await withSession(store)
  const res = new FakeResponse()
  const opened = streams.open(session, res as unknown as ServerResponse)
  await sleep(20)
  assert.equal(res.status, 200)
  await store.deleteSession(session.id)
  await opened
  assert.match(res.text, /event: ended\ndata: {"reason":"expired"}/)
  streams.close()
})
