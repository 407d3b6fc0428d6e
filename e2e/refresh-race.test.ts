import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { startStack, type Stack } from './fixtures/stack.ts'
import type { CookieClient } from './fixtures/cookie-client.ts'

const CSRF = { 'x-csrf': '1' }
/** Access tokens live 6 s and are refreshed in their last 3 s: after 3.2 s every token is due. */
const TOKEN_TTL = 6
const DUE_AFTER_MS = 3200

function sessionCookie(stack: Stack, client: CookieClient): string {
  return `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
}

/** `count` API calls at once, spread round-robin over the instances; statuses and the tokens the upstream saw. */
async function burst(stack: Stack, cookie: string, count: number): Promise<{ statuses: number[]; tokens: string[] }> {
  const responses = await Promise.all(Array.from({ length: count }, (_, i) => {
    const instance = stack.instances[i % stack.instances.length]
    return fetch(`${instance?.url}/api/burst/${i}`, { headers: { ...CSRF, cookie } })
  }))
  const bodies = await Promise.all(responses.map(async (r) => (r.status === 200 ? ((await r.json()) as { headers: Record<string, string> }) : undefined)))
  return { statuses: responses.map((r) => r.status), tokens: bodies.map((b) => b?.headers['authorization'] ?? '') }
}

describe('exactly-once refresh: three instances on one Redis, a strict rotating IdP', () => {
  let stack: Stack
  before(async () => { stack = await startStack({ instances: 3, accessTokenTtl: TOKEN_TTL, config: { tokens: { refreshBefore: '3s' } } }) })
  after(async () => { await stack.stop() })

  test('fifty concurrent calls over three instances cost one refresh grant; a later round costs one more', async () => {
    const { client } = await stack.login()
    const cookie = sessionCookie(stack, client)
    const first = await burst(stack, cookie, 1)
    const original = first.tokens[0]

    for (const round of [1, 2]) {
      await sleep(DUE_AFTER_MS)
      const before = stack.idp.grants['refresh_token'] ?? 0
      const { statuses, tokens } = await burst(stack, cookie, 50)
      const grants = (stack.idp.grants['refresh_token'] ?? 0) - before
      console.log(`round ${round}: 50 calls over 3 instances → ${statuses.filter((s) => s === 200).length} × 200, ${grants} refresh grant(s) at the IdP, ${new Set(tokens).size} distinct token(s) upstream`)
      assert.deepEqual(statuses, Array(50).fill(200))
      assert.equal(grants, 1)
      assert.equal(new Set(tokens).size, 1, 'every upstream request carried the same new token')
      assert.notEqual(tokens[0], original)
      assert.equal(stack.idp.revokedGrants, 0, 'no refresh token was ever presented twice')
    }
  })
})

describe('the refresh lock holder killed mid-refresh', () => {
  let stack: Stack
  before(async () => {
    stack = await startStack({ instances: 3, accessTokenTtl: TOKEN_TTL, config: { tokens: { refreshBefore: '3s' }, timeouts: { idp: '2s', upstream: '5s' } } })
  })
  after(async () => { await stack.stop() })

  /**
   * Logs in, waits until the token is due, has `victim` start the refresh (the IdP holding the
   * token request), kills it, and returns what three requests to the waiters got, and how long it took.
   */
  async function killHolderMidRefresh(victimIndex: number, when: 'before' | 'after') {
    const { client } = await stack.login()
    const cookie = sessionCookie(stack, client)
    await sleep(DUE_AFTER_MS)
    const victim = stack.instances[victimIndex]
    const waiters = stack.instances.slice(0, victimIndex)
    assert.ok(victim !== undefined && waiters.length > 0)
    stack.idp.setTokenDelay(1000, when)
    void fetch(`${victim.url}/api/x`, { headers: { ...CSRF, cookie } }).catch(() => 'connection lost')
    await sleep(300)
    const started = Date.now()
    const answers = [0, 1, 2].map((i) => fetch(`${waiters[i % waiters.length]?.url}/api/x`, { headers: { ...CSRF, cookie } })
      .then(async (r) => ({ status: r.status, body: await r.text() })))
    await sleep(100)
    await victim.kill()
    stack.idp.setTokenDelay(0)
    const results = await Promise.all(answers)
    const elapsed = Date.now() - started
    console.log(`holder killed (IdP delay ${when} processing): waiters answered ${results.map((r) => r.status).join(', ')} after ${elapsed} ms (lock expiry 9000 ms: the 2 s issuer timeout + 7 s)`)
    // Within the lock's expiry (9 s) plus one refresh by the waiter that takes over.
    assert.ok(elapsed < 9000 + 2500, `waited ${elapsed} ms`)
    return results
  }

  test('the IdP never processed the holder\'s grant: a waiter refreshes itself, every call 200', async () => {
    const results = await killHolderMidRefresh(2, 'before')
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200])
  })

  test('the IdP rotated the token but the holder died first: 401 session_expired, never a hang or a 5xx', async () => {
    const revokedBefore = stack.idp.revokedGrants
    const results = await killHolderMidRefresh(1, 'after')
    // The waiter that takes over presents the consumed refresh token; the strict IdP revokes the grant.
    for (const { status, body } of results) {
      assert.equal(status, 401)
      assert.equal((JSON.parse(body) as { code: string }).code, 'session_expired')
    }
    assert.equal(stack.idp.revokedGrants, revokedBefore + 1)
  })
})
