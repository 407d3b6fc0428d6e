import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startResourceServer, type ResourceServer } from './fixtures/resource-server.ts'
import { startStack, type Stack } from './fixtures/stack.ts'

// DPoP (RFC 9449, SPEC "Tokens for each API"): oidc.dpop: true. The IdP (oidc-provider) binds the
// tokens and asks for its own nonce at the token endpoint; the API verifies every proof with jose.

const ORDERS = 'https://orders.example.com'
const CSRF = { 'x-csrf': '1' }
const TTL = 4

describe('DPoP-bound tokens, a fresh proof on every forwarded request', () => {
  let stack: Stack
  let orders: ResourceServer
  before(async () => {
    orders = await startResourceServer(ORDERS, { dpop: true })
    stack = await startStack({
      instances: 2,
      logLevel: 'warn',
      idp: { resources: { [ORDERS]: { ttl: TTL } }, dpopNonce: true },
      oidc: { dpop: true },
      config: { tokens: { refreshBefore: '1s' } },
      extraRoutes: [{ path: '/orders', target: `${orders.url}/v1`, resource: ORDERS, stripPath: true }],
    })
    orders.trust(stack.idp.issuer)
  })
  after(() => Promise.all([stack.stop(), orders.stop()]))

  const signedIn = async () => {
    const { client } = await stack.login()
    return `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
  }
  const call = (cookie: string, path: string, init: RequestInit = {}, instance = 0) =>
    fetch(`${stack.instances[instance]?.url}${path}`, { ...init, headers: { ...CSRF, cookie, ...init.headers as Record<string, string> } })

  test('the login (code bound with dpop_jkt, the issuer\'s nonce met) gives DPoP tokens; every call carries a valid, fresh proof for its method and URL', async () => {
    const challenged = stack.idp.dpopNonceChallenges
    const cookie = await signedIn()
    assert.ok(stack.idp.dpopNonceChallenges > challenged, 'the issuer asked for its nonce, and the grant went through with it')
    const before = orders.answered.length
    for (const [method, path, instance] of [['GET', '/orders/a?x=1', 0], ['DELETE', '/orders/b', 1], ['GET', '/orders/a?x=2', 1], ['GET', '/orders/c', 0]] as const) {
      const response = await call(cookie, path, { method }, instance)
      assert.equal(response.status, 200, `${method} ${path}: ${await response.clone().text()}`)
      assert.equal(((await response.json()) as { path: string }).path, `/v1${path.slice('/orders'.length)}`)
    }
    assert.deepEqual(orders.answered.slice(before).map((answer) => answer.status), [200, 200, 200, 200])
    // The login's own token is DPoP-bound too: /api (an echo) gets it with a proof.
    const echoed = (await (await call(cookie, '/api/x')).json()) as { headers: Record<string, string> }
    assert.match(echoed.headers['authorization'] ?? '', /^DPoP \S+$/)
    assert.match(echoed.headers['dpop'] ?? '', /^ey[\w-]+\.ey[\w-]+\.[\w-]+$/)
  })

  test('a proof replayed to the API is refused; the browser\'s own DPoP header never reaches it', async () => {
    const cookie = await signedIn()
    assert.equal((await call(cookie, '/orders/replay')).status, 200)
    const seen = orders.lastAccepted
    assert.ok(seen !== undefined)
    const replay = await fetch(`${orders.url}${seen.path}`, { headers: { authorization: seen.authorization, dpop: seen.dpop } })
    assert.equal(replay.status, 401)
    assert.match(await replay.text(), /replayed proof/)
    // A proof the page made up is dropped: Cloakroom's own is what the API sees, and it holds.
    assert.equal((await call(cookie, '/orders/forged', { headers: { dpop: seen.dpop } })).status, 200)
  })

  test('the API\'s use_dpop_nonce: a GET is retried once with the nonce; a POST gets the 401, and the next request carries the nonce', async () => {
    const cookie = await signedIn()
    assert.equal((await call(cookie, '/orders/warm')).status, 200)
    orders.requireNonce('nonce-1')
    const before = orders.answered.length
    const get = await call(cookie, '/orders/with-nonce')
    assert.equal(get.status, 200)
    assert.deepEqual(orders.answered.slice(before).map(({ method, status }) => `${method} ${status}`), ['GET 401', 'GET 200'])

    orders.requireNonce('nonce-2')
    const post = await call(cookie, '/orders/create', { method: 'POST', body: '{"item":1}', headers: { 'content-type': 'application/json' } })
    assert.equal(post.status, 401)
    assert.match(post.headers.get('www-authenticate') ?? '', /use_dpop_nonce/)
    const after = orders.answered.length
    assert.equal((await call(cookie, '/orders/create', { method: 'POST', body: '{"item":1}', headers: { 'content-type': 'application/json' } })).status, 200)
    assert.deepEqual(orders.answered.slice(after).map(({ status }) => status), [200], 'the kept nonce went with the next proof')
    orders.requireNonce(undefined)
  })

  test('once the token is due, the refresh grant is DPoP-bound too (the issuer\'s nonce met again), and calls carry on', async () => {
    const cookie = await signedIn()
    assert.equal((await call(cookie, '/orders/before')).status, 200)
    const grants = stack.idp.grants['refresh_token'] ?? 0
    await new Promise((resolve) => setTimeout(resolve, (TTL - 1) * 1000 + 200))
    assert.equal((await call(cookie, '/orders/after', {}, 1)).status, 200)
    assert.equal((stack.idp.grants['refresh_token'] ?? 0) - grants, 1)
  })
})
