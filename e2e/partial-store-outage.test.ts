import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { startStack, type Stack } from './fixtures/stack.ts'
import { startRedisChaos, type Command, type RedisChaos } from './fixtures/redis-chaos.ts'
import { startCloakroom, type CloakroomProcess } from './fixtures/cloakroom.ts'
import { freePort } from './fixtures/free-port.ts'
import type { CookieClient } from './fixtures/cookie-client.ts'

const CSRF = { 'x-csrf': '1' }
const TOKEN_TTL = 6
const DUE_AFTER_MS = 3200

/** The script call that writes a session record over an existing one (an update, not a create). */
const sessionWrite = (command: Command) =>
  (command[0] === 'EVALSHA' || command[0] === 'EVAL') && (command[3] ?? '').includes(':session:') && command.length >= 3 + Number(command[2]) + 4

/** Every session lookup a back-channel logout makes first. */
const indexRead = (command: Command) => command[0] === 'SMEMBERS'

/**
 * Redis refuses some writes while the rest works (a node out of memory, a failing replica): two
 * Cloakroom instances go through a proxy that makes Redis refuse chosen commands.
 */
describe('a partial store outage: Redis refuses some commands, answers the rest', () => {
  let stack: Stack
  let chaos: RedisChaos
  let instances: CloakroomProcess[]

  before(async () => {
    stack = await startStack({ accessTokenTtl: TOKEN_TTL, config: { tokens: { refreshBefore: '3s' }, timeouts: { idp: '2s', upstream: '5s' } } })
    chaos = await startRedisChaos(Number(new URL(stack.redis.url).port))
    // Two more instances whose Redis goes through the proxy; same public URL as the first.
    instances = await Promise.all([0, 1].map(async () => {
      const port = await freePort()
      return startCloakroom({ ...stack.config, listen: { host: '127.0.0.1', port }, store: { type: 'redis', url: chaos.url } } as never)
    }))
  })
  after(async () => {
    await Promise.all(instances.map((instance) => instance.stop()))
    await chaos.stop()
    await stack.stop()
  })

  const call = (instance: CloakroomProcess, cookie: string, path: string) =>
    fetch(`${instance.url}${path}`, { headers: { ...CSRF, cookie } }).then(async (r) => ({ status: r.status, body: await r.text() }))

  async function loggedIn(): Promise<{ client: CookieClient; cookie: string }> {
    const { client } = await stack.login()
    return { client, cookie: `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}` }
  }

  test('Redis refuses the write of rotated tokens: the spent refresh token is never presented again, and the session lives on', async () => {
    const { cookie } = await loggedIn()
    const [first, second] = instances as [CloakroomProcess, CloakroomProcess]
    assert.equal((await call(first, cookie, '/api/warm')).status, 200)
    await sleep(DUE_AFTER_MS)
    const grantsBefore = stack.idp.grants['refresh_token'] ?? 0
    const revokedBefore = stack.idp.revokedGrants
    chaos.refuse(sessionWrite)
    // The holder gets new tokens from the IdP, but cannot store them: it keeps its lock and retries.
    const holder = await call(first, cookie, '/api/holder')
    assert.equal(holder.status, 503)
    // Past the lock's lifetime (2 s issuer timeout + 7 s), the other instance still must not present the spent token.
    const during: number[] = []
    for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
      during.push((await call(second, cookie, '/api/during')).status)
      await sleep(1000)
    }
    chaos.heal()
    let after = 0
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && after !== 200;) {
      after = (await call(second, cookie, '/api/after')).status
      if (after !== 200) await sleep(250)
    }
    const grants = (stack.idp.grants['refresh_token'] ?? 0) - grantsBefore
    console.log(`writes refused: ${chaos.refused}; holder ${holder.status}; other instance meanwhile ${during.join(',')}; after healing ${after}; refresh grants ${grants}; grants revoked ${stack.idp.revokedGrants - revokedBefore}`)
    assert.equal(grants, 1, 'one refresh grant')
    assert.equal(stack.idp.revokedGrants, revokedBefore, 'no refresh token was presented twice (the IdP would have revoked the grant)')
    assert.ok(during.every((status) => status === 503), 'meanwhile: 503, never 401')
    assert.equal(after, 200, 'the tokens were stored once Redis took writes again; the same session works')
    assert.equal((await call(first, cookie, '/api/holder-again')).status, 200)
  })

  test('a back-channel logout that failed half-way (503) is retried by the IdP, and this time ends the sessions', async () => {
    const account = `retry-${randomUUID()}`
    stack.idp.setUser(account)
    const { cookie } = await loggedIn()
    stack.idp.setUser('alice')
    const [instance] = instances as [CloakroomProcess]
    assert.equal((await call(instance, cookie, '/api/before')).status, 200)
    const token = await stack.idp.sign({
      iss: stack.idp.issuer, aud: 'cloakroom-e2e', iat: Math.floor(Date.now() / 1000), jti: randomUUID(), sub: account,
      events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
    })
    const post = () => fetch(`${instance.url}/auth/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }) })
    chaos.refuse(indexRead)
    const failed = await post()
    chaos.heal()
    assert.equal(failed.status, 503)
    assert.equal((await call(instance, cookie, '/api/between')).status, 200, 'the session survived the failed attempt')
    const retried = await post()
    assert.equal(retried.status, 200)
    assert.equal((await call(instance, cookie, '/api/after')).status, 401)
    assert.equal((await post()).status, 400, 'a replay after the success is still refused')
  })
})
