import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { CloakroomError } from '../errors.ts'
import { createMemoryStore, refreshLockName, type SessionRecord, type SessionStore } from '../store/index.ts'
import { sampleSession } from '../store/store-contract.ts'
import type { Refreshed } from '../oidc/index.ts'
import { createTokenRefresher, type RefreshOutcome } from './refresh.ts'

const nowSeconds = () => Math.floor(Date.now() / 1000)

/** A session whose access token is already due for refresh. */
function dueSession(): SessionRecord {
  const session = sampleSession(nowSeconds())
  return { ...session, tokens: { ...session.tokens, accessTokenExpiresAt: nowSeconds() + 5 } }
}

/**
 * A fake issuer that counts grants and rotates the refresh token. `delayMs` holds each answer (or
 * only the first, with `delayFirstOnly`); `lifetime` is the new access token's, in seconds.
 */
function issuer(options: { delayMs?: number; delayFirstOnly?: boolean; fail?: CloakroomError; lifetime?: number; claims?: Record<string, unknown> } = {}) {
  const calls: string[] = []
  return {
    calls,
    async refresh({ refreshToken }: { refreshToken: string }): Promise<Refreshed> {
      calls.push(refreshToken)
      const n = calls.length
      if (n === 1 || options.delayFirstOnly !== true) await sleep(options.delayMs ?? 0)
      if (options.fail !== undefined) throw options.fail
      const tokens = { accessToken: `at-${n}`, refreshToken: `rt-${n}`, accessTokenExpiresAt: nowSeconds() + (options.lifetime ?? 300), idToken: undefined, tokenType: 'Bearer', scope: undefined }
      return { tokens, claims: options.claims }
    },
  }
}

function refresher(store: SessionStore, idp: ReturnType<typeof issuer>, options: { outcomes?: RefreshOutcome[]; lockTtlMs?: number; failureHoldMs?: number } = {}) {
  return createTokenRefresher({
    store, refresh: idp.refresh, refreshBefore: 30, lockTtlMs: options.lockTtlMs ?? 2000, now: Date.now, pollMs: 10,
    failureHoldMs: options.failureHoldMs ?? 200, onRefresh: (o) => options.outcomes?.push(o),
  })
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
  await store.acquireLock(refreshLockName(session.id), 300) // taken and never released
  const started = Date.now()
  const result = await refresher(store, idp, { lockTtlMs: 300 }).fresh(session)
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
  await assert.rejects(refresher(store, idp, { outcomes }).fresh(session), { code: 'session_expired' })
  assert.equal(await store.getSession(session.id), undefined)
  assert.deepEqual(outcomes, ['invalid_grant'])
  await store.close()
})

test('issuer unavailable: idp_unavailable and the session kept; the callers that waited for that attempt share its failure', async () => {
  const store = createMemoryStore({ now: Date.now })
  const outcomes: RefreshOutcome[] = []
  const down = issuer({ delayMs: 100, fail: new CloakroomError('idp_unavailable', 'down') })
  const session = dueSession()
  await store.createSession(session)
  const holder = refresher(store, down, { outcomes }).fresh(session)
  await sleep(20)
  // Another instance that came while the attempt ran waits for it, and is told it failed.
  const waiter = refresher(store, down, { outcomes }).fresh(session)
  await assert.rejects(holder, { code: 'idp_unavailable' })
  await assert.rejects(waiter, { code: 'idp_unavailable' })
  assert.equal(down.calls.length, 1, 'the waiter did not call the issuer itself')
  assert.deepEqual(await store.getSession(session.id), session)
  assert.deepEqual(outcomes, ['unavailable'])
  await store.close()
})

test('a request that starts after a failed refresh ended tries again at once, on the same or another instance', async () => {
  const store = createMemoryStore({ now: Date.now })
  const session = dueSession()
  await store.createSession(session)
  const down = issuer({ fail: new CloakroomError('idp_unavailable', 'down') })
  const up = issuer()
  const failing = refresher(store, down, { failureHoldMs: 10_000 })
  await assert.rejects(failing.fresh(session), { code: 'idp_unavailable' })
  // The IdP is back: a new request on another instance does not get the stale failure.
  const started = Date.now()
  assert.equal((await refresher(store, up, { failureHoldMs: 10_000 }).fresh(session)).tokens.accessToken, 'at-1')
  assert.ok(Date.now() - started < 1000, 'not held back by the failure marker')
  assert.equal(up.calls.length, 1)
  // And on the instance whose own attempt failed.
  const again = dueSession()
  await store.createSession(again)
  await assert.rejects(failing.fresh(again), { code: 'idp_unavailable' })
  assert.equal((await refresher(store, up).fresh(again)).tokens.accessToken, 'at-2')
  await store.close()
})

test('the lock is free again after a refresh', async () => {
  const store = createMemoryStore({ now: Date.now })
  const session = dueSession()
  await store.createSession(session)
  await refresher(store, issuer()).fresh(session)
  assert.equal(typeof (await store.acquireLock(refreshLockName(session.id), 1000)).token, 'string')
  await store.close()
})

test('a caller whose last read raced with the holder\'s write re-reads under the lock', async () => {
  const store = createMemoryStore({ now: Date.now })
  const session = dueSession()
  await store.createSession(session)
  await store.updateSession({ ...session, tokens: { ...session.tokens, accessToken: 'at-new', refreshToken: 'rt-new', accessTokenExpiresAt: nowSeconds() + 300 }, version: 2 })
  // The first read (before taking the lock) returns the stale record, as if it raced with the write.
  let reads = 0
  const racing: SessionStore = { ...store, getSession: async (id) => (reads++ === 0 ? session : store.getSession(id)) }
  const idp = issuer()
  const result = await refresher(racing, idp).fresh(session)
  assert.equal(result.tokens.accessToken, 'at-new')
  assert.equal(idp.calls.length, 0, 'the used refresh token was not presented again')
  await store.close()
})

test('access tokens that live no longer than refreshBefore: a burst still costs one grant', async () => {
  const store = createMemoryStore({ now: Date.now })
  const idp = issuer({ delayMs: 50, lifetime: 10 })
  const session = dueSession()
  await store.createSession(session)
  const [a, b] = [refresher(store, idp), refresher(store, idp)]
  await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).fresh(session)))
  assert.equal(idp.calls.length, 1)
  await store.close()
})

test('a holder whose lock expired does not overwrite the tokens of the refresh that took over', async () => {
  const store = createMemoryStore({ now: Date.now })
  const idp = issuer({ delayMs: 400, delayFirstOnly: true })
  const session = dueSession()
  await store.createSession(session)
  const slow = refresher(store, idp, { lockTtlMs: 200 }).fresh(session)
  await sleep(250)
  const taken = await refresher(store, idp, { lockTtlMs: 200 }).fresh(session)
  assert.equal(taken.tokens.refreshToken, 'rt-2')
  assert.equal((await slow).tokens.refreshToken, 'rt-2', 'the late holder returns the winner\'s tokens')
  assert.equal((await store.getSession(session.id))?.tokens.refreshToken, 'rt-2')
  await store.close()
})

test('the store failing after the issuer rotated: the lock is kept and the tokens stored once it is back, never a second grant', async () => {
  const store = createMemoryStore({ now: Date.now })
  const session = dueSession()
  await store.createSession(session)
  let storeDown = true
  const flaky: SessionStore = {
    ...store,
    updateSessionFenced: async (next, token) => {
      if (storeDown) throw new CloakroomError('store_unavailable', 'down')
      return store.updateSessionFenced(next, token)
    },
  }
  const idp = issuer()
  const unsaved: string[] = []
  const instance = createTokenRefresher({ store: flaky, refresh: idp.refresh, refreshBefore: 30, lockTtlMs: 300, now: Date.now, pollMs: 10, onUnsaved: (o) => unsaved.push(o) })
  await assert.rejects(instance.fresh(session), { code: 'store_unavailable' })
  // Long past the lock's ttl, no one else may take it: it still guards the spent refresh token.
  await sleep(600)
  const other = refresher(store, idp, { lockTtlMs: 300 })
  await assert.rejects(other.fresh(session), { code: 'idp_unavailable' })
  storeDown = false
  for (let i = 0; i < 50 && unsaved.length === 0; i++) await sleep(50)
  assert.deepEqual(unsaved, ['stored'])
  assert.equal((await store.getSession(session.id))?.tokens.refreshToken, 'rt-1')
  assert.equal((await other.fresh(session)).tokens.refreshToken, 'rt-1')
  assert.deepEqual(idp.calls, [session.tokens.refreshToken], 'the spent refresh token was never presented again')
  await store.close()
})

test('a target refused the access token: replace() refreshes once although the token is not due, and only once for many callers', async () => {
  const store = createMemoryStore({ now: Date.now })
  const session = sampleSession(nowSeconds())
  await store.createSession(session)
  const idp = issuer({ delayMs: 30 })
  const [a, b] = [refresher(store, idp), refresher(store, idp)]
  const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).replace(session)))
  assert.deepEqual(new Set(results.map((r) => r.tokens.accessToken)), new Set(['at-1']))
  assert.equal(idp.calls.length, 1)
  // A caller still holding the refused token later gets the new one without another grant.
  assert.equal((await a.replace(session)).tokens.accessToken, 'at-1')
  assert.equal(idp.calls.length, 1)
  await store.close()
})

test('without a refresh token, the access token is used to its end, then the session is over', async () => {
  const store = createMemoryStore({ now: Date.now })
  const base = dueSession()
  const session = { ...base, tokens: { ...base.tokens, refreshToken: undefined } }
  await store.createSession(session)
  const idp = issuer()
  assert.equal(await refresher(store, idp).fresh(session), session)
  const expired = { ...session, tokens: { ...session.tokens, accessTokenExpiresAt: nowSeconds() - 1 } }
  await store.updateSession({ ...expired, version: 2 })
  await assert.rejects(refresher(store, idp).fresh({ ...expired, version: 2 }), { code: 'session_expired' })
  assert.equal(await store.getSession(session.id), undefined)
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

test('claims of a refreshed ID token replace the stored ones; without one, the login\'s stay', async () => {
  const store = createMemoryStore({ now: Date.now })
  const session = dueSession()
  await store.createSession(session)
  const withClaims = await refresher(store, issuer({ claims: { sub: session.sub, name: 'New Name' } })).fresh(session)
  assert.deepEqual(withClaims.claims, { sub: session.sub, name: 'New Name' })
  const again = { ...withClaims, tokens: { ...withClaims.tokens, accessTokenExpiresAt: nowSeconds() + 5 } }
  assert.equal(await store.updateSession({ ...again, version: again.version + 1 }), true)
  const without = await refresher(store, issuer()).fresh({ ...again, version: again.version + 1 })
  assert.deepEqual(without.claims, { sub: session.sub, name: 'New Name' })
  await store.close()
})

test('tokens per resource: each refreshed once, one grant at a time spending the rotated refresh token, and one token\'s failure is not another\'s', async () => {
  const store = createMemoryStore({ now: Date.now })
  const calls: string[] = []
  const refresh = async ({ refreshToken, resource }: { refreshToken: string; resource?: string | undefined }): Promise<Refreshed> => {
    calls.push(`${resource ?? 'login'} with ${refreshToken}`)
    await sleep(30)
    if (resource === 'https://refused') throw new CloakroomError('idp_unavailable', 'invalid_target')
    const n = calls.length
    return { tokens: { accessToken: `${resource ?? 'login'}-${n}`, refreshToken: `rt-${n}`, accessTokenExpiresAt: nowSeconds() + 300, idToken: undefined, tokenType: 'Bearer', scope: undefined }, claims: undefined }
  }
  const make = () => createTokenRefresher({ store, refresh, refreshBefore: 30, lockTtlMs: 2000, now: Date.now, pollMs: 10, failureHoldMs: 500 })
  const [a, b] = [make(), make()]
  const session = dueSession()
  await store.createSession(session)
  // The refused resource's grant goes first; the others queue behind it, on both "instances".
  const refused = a.fresh(session, 'https://refused').then(() => 'refreshed', (error: unknown) => String(error))
  await sleep(5)
  const asks = [undefined, 'https://a', 'https://b']
  const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).fresh(session, asks[i % 3])))
  assert.match(await refused, /invalid_target/)
  for (const [i, result] of results.entries()) {
    assert.equal(result.status, 'fulfilled', `${asks[i % 3] ?? 'login'} got ${result.status === 'rejected' ? String(result.reason) : ''}`)
  }
  // One grant per token, never two with one refresh token: each spent the one the previous left.
  assert.equal(calls.length, 4, calls.join(', '))
  const spent = calls.slice(1).map((call) => call.split(' with ')[1])
  assert.equal(new Set(spent).size, 3, `a refresh token presented twice: ${calls.join(', ')}`)
  const latest = await store.getSession(session.id)
  assert.match(latest?.tokens.accessToken ?? '', /^login-/)
  assert.match(latest?.resourceTokens?.['https://a']?.accessToken ?? '', /^https:\/\/a-/)
  assert.match(latest?.resourceTokens?.['https://b']?.accessToken ?? '', /^https:\/\/b-/)
  assert.equal(latest?.resourceTokens?.['https://refused'], undefined)
  await store.close()
})
