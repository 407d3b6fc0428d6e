import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, test } from 'node:test'
import { CloakroomError } from '../errors.ts'
import { publicSessionId, refreshLockName, type PendingLogin, type SessionRecord, type SessionStore } from './types.ts'

/** A settable clock the store under test reads (epoch milliseconds). */
export interface ContractClock {
  now(): number
  advance(seconds: number): void
}

export interface ContractSubject {
  readonly store: SessionStore
  /** The store's clock; undefined when the store expires by real time (Redis TTLs), so the suite waits. */
  readonly clock: ContractClock | undefined
  cleanup(): Promise<void>
}

const id = (): string => randomBytes(32).toString('base64url')

/** A session whose deadlines are `idleIn` and `absoluteIn` seconds after `at` (epoch seconds). */
export function sampleSession(at: number, idleIn = 1800, absoluteIn = 43_200): SessionRecord {
  return {
    id: id(),
    sub: `sub-${id()}`,
    claims: { email: 'alice@example.com', groups: ['a', 'b'], nested: { deep: [1, { two: 2 }] }, admin: false },
    idpSid: `idp-${id()}`,
    tokens: {
      accessToken: `at-${id()}`,
      accessTokenExpiresAt: at + 300,
      refreshToken: `rt-${id()}`,
      idToken: `it-${id()}`,
      tokenType: 'Bearer',
      scope: 'openid profile offline_access',
    },
    dpopKey: { kty: 'EC', crv: 'P-256', x: `x-${id()}`, y: `y-${id()}`, d: `d-${id()}` },
    resourceTokens: { 'https://orders.example.com': { accessToken: `rat-${id()}`, accessTokenExpiresAt: at + 300, tokenType: 'DPoP', scope: undefined } },
    createdAt: at,
    lastSeenAt: at,
    userAgent: 'Firefox on Linux',
    idleExpiresAt: at + idleIn,
    absoluteExpiresAt: at + absoluteIn,
    version: 1,
  }
}

/** A pending login created at `at` (epoch seconds), with values unique to this call. */
export function samplePendingLogin(at: number): PendingLogin {
  return { codeVerifier: `cv-${id()}`, nonce: `n-${id()}`, returnTo: '/after?x=1', browserBinding: `bb-${id()}`, createdAt: at }
}

/** Writes a session (created, then updated) and a pending login: every kind of record a store keeps. */
export async function fillWithSecrets(store: SessionStore): Promise<{ session: SessionRecord; login: PendingLogin }> {
  const at = Math.floor(Date.now() / 1000)
  const session = sampleSession(at)
  const login = samplePendingLogin(at)
  await store.createSession(session)
  await store.updateSession({ ...session, version: 2 })
  await store.putPendingLogin('state-1', login, 600)
  return { session, login }
}

/** Fails unless `dump` (whatever a store's backing service holds, as text) shows none of the record's secrets in clear. */
export function assertHoldsNoSecret(dump: string, session: SessionRecord, login: PendingLogin): void {
  const secrets = [session.tokens.accessToken, session.tokens.refreshToken, session.tokens.idToken, session.sub,
    session.idpSid, 'alice@example.com', login.codeVerifier, login.nonce, login.browserBinding, session.dpopKey?.d,
    ...Object.values(session.resourceTokens ?? {}).map((token) => token.accessToken)]
  for (const secret of secrets) {
    assert.ok(secret !== undefined && !dump.includes(secret), `the store holds ${secret} in clear`)
  }
}

/** What the suite may ask of a store beyond its defaults. */
export interface ContractStoreOptions { readonly maxPendingLogins?: number }

/** The bound on pending logins the suite's stores are made with (small, so a test can reach it). */
const MAX_PENDING = 5

/**
 * The behaviour every SessionStore must show (STYLE: one suite, run against every store).
 * `makeStore` is called once per test and gives a fresh, empty store made with `options`.
 */
/** Resolves once `condition` holds, or fails after `ms` (events travel through Redis). */
export async function until(condition: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

export function storeContract(name: string, makeStore: (options: ContractStoreOptions) => Promise<ContractSubject>): void {
  describe(`SessionStore contract: ${name}`, () => {
    let subject: ContractSubject
    let store: SessionStore
    beforeEach(async () => {
      subject = await makeStore({ maxPendingLogins: MAX_PENDING })
      store = subject.store
    })
    afterEach(() => subject.cleanup())

    const nowMs = (): number => subject.clock?.now() ?? Date.now()
    /** A whole second at least half a second ahead: time enough to write and read back before it. */
    const soon = (): number => Math.ceil(nowMs() / 1000 + 0.5)
    /** Lets time reach `epochSeconds`: moves the clock, or sleeps past it when Redis keeps time. */
    async function passUntil(epochSeconds: number): Promise<void> {
      const clock = subject.clock
      if (clock !== undefined) clock.advance((epochSeconds * 1000 - clock.now()) / 1000)
      else await sleep(Math.max(0, epochSeconds * 1000 - Date.now()) + 150)
    }

    test('ping answers', async () => {
      await store.ping()
    })

    test('a created session reads back deep-equal', async () => {
      const session = sampleSession(Math.floor(nowMs() / 1000))
      await store.createSession(session)
      assert.deepEqual(await store.getSession(session.id), session)
    })

    test('optional fields left undefined read back as undefined', async () => {
      const base = sampleSession(Math.floor(nowMs() / 1000))
      const tokens = { ...base.tokens, accessTokenExpiresAt: undefined, refreshToken: undefined, scope: undefined }
      const session = { ...base, idpSid: undefined, tokens }
      await store.createSession(session)
      assert.deepEqual(await store.getSession(session.id), session)
    })

    test('the store keeps its own copy of what it was given', async () => {
      const claims: Record<string, unknown> = { role: 'reader' }
      const session = { ...sampleSession(Math.floor(nowMs() / 1000)), claims }
      await store.createSession(session)
      claims['role'] = 'admin'
      assert.deepEqual((await store.getSession(session.id))?.claims, { role: 'reader' })
    })

    test('an unknown session id gives undefined', async () => {
      assert.equal(await store.getSession(id()), undefined)
    })

    test('update with version + 1 replaces the session', async () => {
      const session = sampleSession(Math.floor(nowMs() / 1000))
      await store.createSession(session)
      const next = { ...session, version: 2, tokens: { ...session.tokens, accessToken: 'at-refreshed' } }
      assert.equal(await store.updateSession(next), true)
      assert.deepEqual(await store.getSession(session.id), next)
    })

    test('update from a stale or future version returns false and writes nothing', async () => {
      const session = sampleSession(Math.floor(nowMs() / 1000))
      await store.createSession(session)
      const winner = { ...session, version: 2, sub: 'winner' }
      assert.equal(await store.updateSession(winner), true)
      assert.equal(await store.updateSession({ ...session, version: 2, sub: 'loser' }), false)
      assert.equal(await store.updateSession({ ...session, version: 4, sub: 'future' }), false)
      assert.deepEqual(await store.getSession(session.id), winner)
    })

    test('concurrent updates from one version: exactly one wins', async () => {
      const session = sampleSession(Math.floor(nowMs() / 1000))
      await store.createSession(session)
      const attempts = Array.from({ length: 8 }, (_, i) => ({ ...session, version: 2, sub: `writer-${i}` }))
      const results = await Promise.all(attempts.map((attempt) => store.updateSession(attempt)))
      assert.equal(results.filter(Boolean).length, 1)
      assert.deepEqual(await store.getSession(session.id), attempts[results.indexOf(true)])
    })

    test('delete removes the session; updating it afterwards returns false and does not revive it', async () => {
      const session = sampleSession(Math.floor(nowMs() / 1000))
      await store.createSession(session)
      await store.deleteSession(session.id)
      assert.equal(await store.getSession(session.id), undefined)
      assert.equal(await store.updateSession({ ...session, version: 2 }), false)
      assert.equal(await store.getSession(session.id), undefined)
      await store.deleteSession(session.id) // deleting what is gone is fine
    })

    test('a pending login is taken once: the second take gives undefined', async () => {
      const state = id()
      const login = samplePendingLogin(Math.floor(nowMs() / 1000))
      await store.putPendingLogin(state, login, 600)
      assert.deepEqual(await store.takePendingLogin(state), login)
      assert.equal(await store.takePendingLogin(state), undefined)
      assert.equal(await store.takePendingLogin(id()), undefined)
    })

    test('concurrent takes of one state: exactly one gets the login', async () => {
      const state = id()
      const login = samplePendingLogin(Math.floor(nowMs() / 1000))
      await store.putPendingLogin(state, login, 600)
      const results = await Promise.all(Array.from({ length: 10 }, () => store.takePendingLogin(state)))
      assert.deepEqual(results.filter((result) => result !== undefined), [login])
    })

    test('a session is gone once its idle expiry passes', async () => {
      const at = soon()
      const session = sampleSession(at - 1, 1, 3600)
      await store.createSession(session)
      if (subject.clock !== undefined) await passUntil(at - 0.001)
      assert.deepEqual(await store.getSession(session.id), session)
      await passUntil(at)
      assert.equal(await store.getSession(session.id), undefined)
    })

    test('a session is gone once its absolute expiry passes, however recent its activity', async () => {
      const at = soon()
      const session = sampleSession(at - 1, 3600, 1)
      await store.createSession(session)
      if (subject.clock !== undefined) await passUntil(at - 0.001)
      assert.deepEqual(await store.getSession(session.id), session)
      await passUntil(at)
      assert.equal(await store.getSession(session.id), undefined)
    })

    test('an update moves the expiry to the new idle deadline', async () => {
      const at = soon()
      const session = sampleSession(at - 1, 1, 3600)
      await store.createSession(session)
      const extended = { ...session, version: 2, idleExpiresAt: at + 1800 }
      assert.equal(await store.updateSession(extended), true)
      await passUntil(at)
      assert.deepEqual(await store.getSession(session.id), extended)
    })

    test('a pending login is gone once its ttl passes', async () => {
      const [early, late] = [id(), id()]
      const login = samplePendingLogin(Math.floor(nowMs() / 1000))
      const start = nowMs() / 1000
      await store.putPendingLogin(early, login, 0.5)
      await store.putPendingLogin(late, login, 0.5)
      if (subject.clock !== undefined) await passUntil(start + 0.499)
      assert.deepEqual(await store.takePendingLogin(early), login)
      await passUntil(start + 0.5)
      assert.equal(await store.takePendingLogin(late), undefined)
    })

    test('sessionsOf lists the sessions created for a subject and for an IdP session id', async () => {
      const at = Math.floor(nowMs() / 1000)
      const first = sampleSession(at)
      const second = { ...sampleSession(at), sub: first.sub }
      const other = sampleSession(at)
      for (const session of [first, second, other]) await store.createSession(session)
      assert.deepEqual((await store.sessionsOf({ sub: first.sub })).sort(), [first.id, second.id].sort())
      assert.deepEqual(await store.sessionsOf({ idpSid: second.idpSid ?? '' }), [second.id])
      assert.deepEqual(await store.sessionsOf({ sid: publicSessionId(first.id) }), [first.id], 'and by public sid')
      assert.deepEqual(await store.sessionsOf({ sub: 'nobody' }), [])
      assert.deepEqual(await store.sessionsOf({ idpSid: first.sub }), [], 'subjects and sids are separate indexes')
    })

    test('a lock has one holder; only its token releases it', async () => {
      const name = `refresh:${id()}`
      const { token } = await store.acquireLock(name, 10_000)
      assert.equal(typeof token, 'string')
      const seen = await store.acquireLock(name, 10_000)
      assert.equal(seen.token, undefined)
      assert.ok(seen.token === undefined && /^[0-9a-f]{16}$/.test(seen.holder) && !seen.failed, 'others learn an attempt id, not the token')
      await store.releaseLock(name, 'not-the-token')
      assert.equal((await store.acquireLock(name, 10_000)).token, undefined)
      await store.releaseLock(name, token ?? '')
      const next = (await store.acquireLock(name, 10_000)).token
      assert.ok(next !== undefined && next !== token)
      assert.equal(typeof (await store.acquireLock(`other:${id()}`, 10_000)).token, 'string', 'locks are per name')
    })

    test('a lock frees itself after its ttl (a holder that died)', async () => {
      const name = `refresh:${id()}`
      const start = nowMs() / 1000
      assert.notEqual((await store.acquireLock(name, 400)).token, undefined)
      if (subject.clock !== undefined) await passUntil(start + 0.399)
      assert.equal((await store.acquireLock(name, 400)).token, undefined)
      await passUntil(start + 0.4)
      assert.notEqual((await store.acquireLock(name, 400)).token, undefined)
    })

    test('a failed attempt is reported to those who waited for it; anyone else takes the lock over', async () => {
      const name = `refresh:${id()}`
      const { token } = await store.acquireLock(name, 10_000)
      const waiting = await store.acquireLock(name, 10_000)
      assert.ok(waiting.token === undefined)
      await store.releaseLock(name, token ?? '', 10_000)
      assert.deepEqual(await store.acquireLock(name, 10_000, waiting.holder), { token: undefined, holder: waiting.holder, failed: true })
      await store.releaseLock(name, 'not-the-token')
      assert.deepEqual(await store.acquireLock(name, 10_000, waiting.holder), { token: undefined, holder: waiting.holder, failed: true })
      const late = await store.acquireLock(name, 10_000)
      assert.equal(typeof late.token, 'string', 'a caller that came after the failure tries again')
      assert.equal((await store.acquireLock(name, 10_000, waiting.holder)).token, undefined, 'and holds the lock')
    })

    test('a failure marker lasts as long as it was left for, then the lock is free', async () => {
      const name = `refresh:${id()}`
      const { token } = await store.acquireLock(name, 10_000)
      const waiting = await store.acquireLock(name, 10_000)
      assert.ok(waiting.token === undefined)
      const start = nowMs() / 1000
      await store.releaseLock(name, token ?? '', 400)
      await passUntil(start + 0.4)
      assert.equal(typeof (await store.acquireLock(name, 10_000, waiting.holder)).token, 'string')
    })

    test('extendLock keeps a lock for its holder, takes an expired one back, and never takes another\'s', async () => {
      const name = `refresh:${id()}`
      const { token = '' } = await store.acquireLock(name, 400)
      const start = nowMs() / 1000
      assert.equal(await store.extendLock(name, token, 10_000), true)
      await passUntil(start + 0.4)
      assert.equal((await store.acquireLock(name, 10_000)).token, undefined, 'still held after the first ttl')
      assert.equal(await store.extendLock(name, 'not-the-token', 10_000), false)
      const other = `refresh:${id()}`
      const expired = (await store.acquireLock(other, 300)).token ?? ''
      await passUntil(nowMs() / 1000 + 0.3)
      assert.equal(await store.extendLock(other, expired, 10_000), true, 'an expired lock nobody took is taken back')
      assert.equal((await store.acquireLock(other, 10_000)).token, undefined)
    })

    test('a fenced update writes only while its lock token holds the session\'s refresh lock', async () => {
      const session = sampleSession(Math.floor(nowMs() / 1000))
      await store.createSession(session)
      const lock = refreshLockName(session.id)
      const { token = '' } = await store.acquireLock(lock, 10_000)
      assert.equal(await store.updateSessionFenced({ ...session, version: 2 }, 'not-the-token'), 'fenced')
      assert.equal(await store.updateSessionFenced({ ...session, version: 3 }, token), 'conflict', 'the version still counts')
      assert.equal(await store.updateSessionFenced({ ...session, idleExpiresAt: session.idleExpiresAt + 1, version: 2 }, token), 'updated')
      assert.equal((await store.getSession(session.id))?.idleExpiresAt, session.idleExpiresAt + 1)
      await store.releaseLock(lock, token)
      assert.equal(await store.updateSessionFenced({ ...session, version: 3 }, token), 'fenced', 'a released lock fences its old holder out')
      assert.equal((await store.getSession(session.id))?.version, 2)
    })

    test('a marker is remembered for its ttl', async () => {
      const name = `jti:${id()}`
      assert.equal(await store.hasMarker(name), false)
      const start = nowMs() / 1000
      await store.putMarker(name, 400)
      assert.equal(await store.hasMarker(name), true)
      assert.equal(await store.hasMarker(`jti:${id()}`), false, 'markers are per name')
      await passUntil(start + 0.4)
      assert.equal(await store.hasMarker(name), false)
    })

    test('pending logins are bounded: past the bound a new one is rate_limited, a finished one makes room', async () => {
      const at = Math.floor(nowMs() / 1000)
      for (let i = 0; i < MAX_PENDING; i++) await store.putPendingLogin(`bound-${i}`, samplePendingLogin(at), 600)
      await assert.rejects(store.putPendingLogin('one-too-many', samplePendingLogin(at), 600), (error: unknown) =>
        error instanceof CloakroomError && error.code === 'rate_limited' && (error.retryAfter ?? 0) > 0)
      assert.equal(await store.takePendingLogin('one-too-many'), undefined, 'the refused login was not stored')
      assert.notEqual(await store.takePendingLogin('bound-0'), undefined)
      await store.putPendingLogin('room-again', samplePendingLogin(at), 600)
      assert.notEqual(await store.takePendingLogin('room-again'), undefined)
    })

    test('concurrent acquires of one lock: exactly one wins', async () => {
      const name = `refresh:${id()}`
      const results = await Promise.all(Array.from({ length: 10 }, () => store.acquireLock(name, 10_000)))
      assert.equal(results.filter((attempt) => attempt.token !== undefined).length, 1)
    })

    test('an event published for a session reaches its subscribers, and only theirs, until they unsubscribe', async () => {
      const [one, two] = [id(), id()]
      const heard: string[] = []
      const stopOne = await store.subscribe(one, (event) => heard.push(`one ${JSON.stringify(event)}`))
      const stopTwo = await store.subscribe(two, (event) => heard.push(`two ${JSON.stringify(event)}`))
      await store.publish(one, { type: 'ended', reason: 'logout' })
      await store.publish(two, { type: 'changed' })
      await until(() => heard.length >= 2)
      assert.deepEqual(heard.sort(), ['one {"type":"ended","reason":"logout"}', 'two {"type":"changed"}'])
      await stopOne()
      await store.publish(one, { type: 'ended', reason: 'revoked' })
      await store.publish(two, { type: 'ended', reason: 'expired' })
      await until(() => heard.length >= 3)
      await new Promise((resolve) => setTimeout(resolve, 50))
      assert.deepEqual(heard.slice(2), ['two {"type":"ended","reason":"expired"}'], 'an unsubscribed listener hears nothing more')
      await stopTwo()
    })

    test('two subscribers of one session each hear its events once', async () => {
      const session = id()
      const heard: string[] = []
      const stops = await Promise.all(['a', 'b'].map((name) => store.subscribe(session, (event) => heard.push(`${name} ${event.type}`))))
      await store.publish(session, { type: 'changed' })
      await until(() => heard.length >= 2)
      await new Promise((resolve) => setTimeout(resolve, 50))
      assert.deepEqual(heard.sort(), ['a changed', 'b changed'])
      await Promise.all(stops.map((stop) => stop()))
    })
  })
}
