import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { CloakroomError } from '../errors.ts'
import { createMemoryStore, type SessionRecord, type TokenSet } from '../store/index.ts'
import { sampleSession } from '../store/store-contract.ts'
import { createTokenRefresher, type RefreshOutcome } from './refresh.ts'

const nowSeconds = () => Math.floor(Date.now() / 1000)

/** A session whose access token is already due for refresh. */
function dueSession(): SessionRecord {
  const session = sampleSession(nowSeconds())
  return { ...session, tokens: { ...session.tokens, accessTokenExpiresAt: nowSeconds() + 5 } }
}

/** A fake issuer that counts grants and rotates the refresh token; `delayMs` holds each answer. */
function issuer(options: { delayMs?: number; fail?: CloakroomError } = {}) {
  const calls: string[] = []
  return {
    calls,
    async refresh(tokens: TokenSet): Promise<TokenSet> {
      calls.push(tokens.refreshToken ?? '')
      await sleep(options.delayMs ?? 0)
      if (options.fail !== undefined) throw options.fail
      const n = calls.length
      return { ...tokens, accessToken: `at-${n}`, refreshToken: `rt-${n}`, accessTokenExpiresAt: nowSeconds() + 300 }
    },
  }
}

function refresher(store: ReturnType<typeof createMemoryStore>, idp: ReturnType<typeof issuer>, outcomes: RefreshOutcome[] = [], lockTtlMs = 2000) {
  return createTokenRefresher({ store, refresh: idp.refresh, refreshBefore: 30, lockTtlMs, now: Date.now, pollMs: 10, onRefresh: (o) => outcomes.push(o) })
}

test('a token that is not due is used as it is, without calling the issuer', async () => {
  const store = createMemoryStore({ now: Date.now })
  const idp = issuer()
  const session = sampleSession(nowSeconds())
  assert.equal(await refresher(store, idp).fresh(session), session)
  assert.equal(idp.calls.length, 0)
  await store.close()
})

test('fifty concurrent callers on two "instances" sharing a store cost one refresh grant', async () => {
  const store = createMemoryStore({ now: Date.now })
  const idp = issuer({ delayMs: 50 })
  const session = dueSession()
  await store.createSession(session)
  const [a, b] = [refresher(store, idp), refresher(store, idp)]
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).fresh(session)))
  assert.deepEqual(idp.calls, [session.tokens.refreshToken])
  assert.deepEqual(new Set(results.map((r) => r.tokens.accessToken)), new Set(['at-1']))
  const stored = await store.getSession(session.id)
  assert.equal(stored?.tokens.refreshToken, 'rt-1', 'the rotated refresh token is stored')
  assert.equal(stored?.version, session.version + 1)
  await store.close()
})

test('a waiter that read the session before the holder refreshed does not spend the old refresh token', async () => {
  const store = createMemoryStore({ now: Date.now })
  const idp = issuer({ delayMs: 100 })
  const session = dueSession()
  await store.createSession(session)
  const holder = refresher(store, idp).fresh(session)
  await sleep(20)
  // `session` is stale now; a second instance handed it must still not call the issuer.
  const waiter = await refresher(store, idp).fresh(session)
  assert.equal((await holder).tokens.accessToken, 'at-1')
  assert.equal(waiter.tokens.accessToken, 'at-1')
  assert.equal(idp.calls.length, 1)
  await store.close()
})

test('a holder that died: the lock frees after its ttl and a waiter refreshes', async () => {
  const store = createMemoryStore({ now: Date.now })
  const idp = issuer()
  const session = dueSession()
  await store.createSession(session)
  await store.acquireLock(`refresh:${session.id}`, 300) // taken and never released
  const started = Date.now()
  const result = await refresher(store, idp, [], 300).fresh(session)
  assert.equal(result.tokens.accessToken, 'at-1')
  assert.ok(Date.now() - started >= 250, 'waited for the dead holder\'s lock to expire')
  await store.close()
})

test('invalid_grant: the session is deleted and session_expired thrown', async () => {
  const store = createMemoryStore({ now: Date.now })
  const outcomes: RefreshOutcome[] = []
  const idp = issuer({ fail: new CloakroomError('session_expired', 'gone') })
  const session = dueSession()
  await store.createSession(session)
  await assert.rejects(refresher(store, idp, outcomes).fresh(session), { code: 'session_expired' })
  assert.equal(await store.getSession(session.id), undefined)
  assert.deepEqual(outcomes, ['invalid_grant'])
  await store.close()
})

test('issuer unavailable: idp_unavailable, the session kept, and the next call retries', async () => {
  const store = createMemoryStore({ now: Date.now })
  const outcomes: RefreshOutcome[] = []
  const down = issuer({ fail: new CloakroomError('idp_unavailable', 'down') })
  const session = dueSession()
  await store.createSession(session)
  await assert.rejects(refresher(store, down, outcomes).fresh(session), { code: 'idp_unavailable' })
  assert.deepEqual(await store.getSession(session.id), session)
  const up = issuer()
  assert.equal((await refresher(store, up, outcomes).fresh(session)).tokens.accessToken, 'at-1')
  assert.deepEqual(outcomes, ['unavailable', 'ok'])
  await store.close()
})

test('a concurrent write (an idle-timeout touch) does not lose the rotated refresh token', async () => {
  const store = createMemoryStore({ now: Date.now })
  const idp = issuer({ delayMs: 50 })
  const session = dueSession()
  await store.createSession(session)
  const refreshing = refresher(store, idp).fresh(session)
  await sleep(10)
  const touched = { ...session, idleExpiresAt: session.idleExpiresAt + 60, version: session.version + 1 }
  assert.equal(await store.updateSession(touched), true)
  await refreshing
  const stored = await store.getSession(session.id)
  assert.equal(stored?.tokens.refreshToken, 'rt-1')
  assert.equal(stored?.idleExpiresAt, touched.idleExpiresAt)
  await store.close()
})

test('a session that ended while waiting gives session_expired', async () => {
  const store = createMemoryStore({ now: Date.now })
  const session = dueSession()
  await assert.rejects(refresher(store, issuer()).fresh(session), { code: 'session_expired' })
  await store.close()
})
