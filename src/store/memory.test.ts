import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createMemoryStore } from './memory.ts'
import { sampleSession, samplePendingLogin, storeContract, type ContractClock } from './store-contract.ts'

/** Starts on a whole second so deadlines land exactly; moves in whole milliseconds. */
function settableClock(): ContractClock {
  let now = Math.floor(Date.now() / 1000) * 1000
  return { now: () => now, advance: (seconds) => { now += Math.round(seconds * 1000) } }
}

storeContract('memory', async (options) => {
  const clock = settableClock()
  const store = createMemoryStore({ now: clock.now, ...options })
  return { store, clock, cleanup: () => store.close() }
})

describe('createMemoryStore', () => {
  test('the periodic sweep drops expired entries and keeps live ones', async () => {
    const clock = settableClock()
    const store = createMemoryStore({ now: clock.now, sweepIntervalMs: 5 })
    after(() => store.close())
    const at = clock.now() / 1000
    await store.createSession(sampleSession(at, 10, 3600))
    await store.createSession(sampleSession(at, 3600, 10))
    await store.createSession(sampleSession(at, 3600, 3600))
    await store.putPendingLogin('gone', samplePendingLogin(at), 10)
    await store.putPendingLogin('kept', samplePendingLogin(at), 600)
    assert.deepEqual(store.size(), { sessions: 3, pendingLogins: 2 })
    clock.advance(10)
    await sleep(50)
    assert.deepEqual(store.size(), { sessions: 1, pendingLogins: 1 })
  })

  test('a read of an expired session drops it without waiting for the sweep', async () => {
    const clock = settableClock()
    const store = createMemoryStore({ now: clock.now, sweepIntervalMs: 3_600_000 })
    after(() => store.close())
    const session = sampleSession(clock.now() / 1000, 10, 3600)
    await store.createSession(session)
    clock.advance(10)
    assert.equal(await store.getSession(session.id), undefined)
    assert.deepEqual(store.size(), { sessions: 0, pendingLogins: 0 })
  })

  test('what a read returns is frozen, and what was written is a copy: changing either does not change the store', async () => {
    const clock = settableClock()
    const store = createMemoryStore({ now: clock.now })
    after(() => store.close())
    const session = sampleSession(clock.now() / 1000)
    await store.createSession(session)
    const written = session.tokens.accessToken
    Object.assign(session.tokens, { accessToken: 'changed after the write' })
    const first = await store.getSession(session.id)
    assert.ok(first !== undefined)
    assert.throws(() => Object.assign(first.tokens, { accessToken: 'changed' }), TypeError)
    assert.equal((await store.getSession(session.id))?.tokens.accessToken, written)
  })

  test('pending logins are capped at 100,000 by default: past that, new ones are refused and the held ones stay', async () => {
    const clock = settableClock()
    const store = createMemoryStore({ now: clock.now, sweepIntervalMs: 3_600_000 })
    after(() => store.close())
    const login = samplePendingLogin(clock.now() / 1000)
    for (let i = 0; i < 100_000; i++) await store.putPendingLogin(`state-${i}`, login, 600)
    await assert.rejects(store.putPendingLogin('state-100000', login, 600), { code: 'rate_limited' })
    assert.equal(store.size().pendingLogins, 100_000)
    assert.deepEqual(await store.takePendingLogin('state-0'), login)
    assert.equal(await store.takePendingLogin('state-100000'), undefined)
  })
})
