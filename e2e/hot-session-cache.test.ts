import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { startStack, type Stack } from './fixtures/stack.ts'
import { redisCli } from './fixtures/redis-server.ts'
import type { CookieClient } from './fixtures/cookie-client.ts'
import type { CloakroomProcess } from './fixtures/cloakroom.ts'

// Each instance answers a hot session from its client-side cache (RESP3 CLIENT TRACKING), without
// asking Redis. These tests warm the session on instance B, prove B stopped asking Redis for it,
// change the session through instance A (or the IdP), and expect B's very next request to see it.

const CSRF = { 'x-csrf': '1' }
let stack: Stack
let a: CloakroomProcess
let b: CloakroomProcess
before(async () => {
  stack = await startStack({ instances: 2, accessTokenTtl: 6, config: { tokens: { refreshBefore: '3s' }, login: { ratePerMinute: 1000 } } })
  ;[a, b] = stack.instances as [CloakroomProcess, CloakroomProcess]
})
after(async () => { await stack.stop() })

const cookieOf = (client: CookieClient) => `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`

async function call(instance: CloakroomProcess, cookie: string): Promise<{ status: number; token: string | undefined }> {
  const response = await fetch(`${instance.url}/api/x`, { headers: { ...CSRF, cookie } })
  const body = await response.json() as { headers?: Record<string, string> }
  return { status: response.status, token: body.headers?.['authorization']?.slice(7) }
}

/** Session reads Redis has served so far (HGET is the only command that reads a session). */
async function sessionReads(): Promise<number> {
  const stats = await redisCli(['-u', stack.redis.url, 'INFO', 'commandstats'])
  return Number(/cmdstat_hget:calls=(\d+)/.exec(stats)?.[1] ?? 0)
}

/** Calls B until it answers from its cache: three calls in a row that cost Redis no session read. */
async function warm(cookie: string): Promise<string | undefined> {
  const first = await call(b, cookie)
  assert.equal(first.status, 200)
  const reads = await sessionReads()
  for (let i = 0; i < 3; i++) assert.deepEqual(await call(b, cookie), first)
  assert.equal(await sessionReads(), reads, 'instance B read the session from Redis again: it is not cached')
  return first.token
}

describe('a hot session cached on one instance', () => {
  test('a logout on A ends it on B at B\'s very next request (40 sessions, their logouts at once)', async () => {
    const cookies: string[] = []
    for (let i = 0; i < 40; i++) {
      const cookie = cookieOf((await stack.login()).client)
      await warm(cookie)
      cookies.push(cookie)
    }
    // Each logout's answer is followed at once by that session's call on B; the 40 run side by side,
    // so B reads its Redis connection and its HTTP connections in the same turns of its event loop.
    const afterLogout = await Promise.all(cookies.map(async (cookie) => {
      const logout = await fetch(`${a.url}/auth/logout`, { method: 'POST', headers: { ...CSRF, cookie } })
      assert.equal(logout.status, 200)
      return (await call(b, cookie)).status
    }))
    assert.deepEqual(afterLogout, cookies.map(() => 401), 'a session was still served by B after its logout on A')
  })

  test('a refresh on A: B\'s next request carries the new token, and makes no grant of its own', async () => {
    const cookie = cookieOf((await stack.login()).client)
    const old = await warm(cookie)
    await sleep(3200) // now within refreshBefore of expiry: due
    const grants = stack.idp.grants['refresh_token'] ?? 0
    const onA = await call(a, cookie)
    assert.equal(onA.status, 200)
    assert.notEqual(onA.token, old)
    assert.equal((stack.idp.grants['refresh_token'] ?? 0) - grants, 1)
    assert.deepEqual(await call(b, cookie), onA)
    assert.equal((stack.idp.grants['refresh_token'] ?? 0) - grants, 1, 'B refreshed again with the spent refresh token')
  })

  test('a back-channel logout (the IdP revokes the session through A) ends it on B at its next request', async () => {
    const { client } = await stack.login()
    const cookie = cookieOf(client)
    await warm(cookie)
    const delivered = stack.idp.backchannelLogouts
    await stack.logoutAtIdp(client)
    assert.equal(stack.idp.backchannelLogouts, delivered + 1)
    assert.equal((await call(b, cookie)).status, 401)
  })
})
