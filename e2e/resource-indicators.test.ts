import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { runCli } from './fixtures/cloakroom.ts'
import { startResourceServer, type ResourceServer } from './fixtures/resource-server.ts'
import { startStack, type Stack } from './fixtures/stack.ts'

// Resource indicators (RFC 8707, SPEC "Tokens for each API"): a route with `resource` forwards a
// token issued for exactly that resource, kept per session and resource, refreshed once across instances.

const ORDERS = 'https://orders.example.com'
const BILLING = 'https://billing.example.com'
const CSRF = { 'x-csrf': '1' }
const TTL = 4

describe('two routes to two APIs, each taking only tokens for itself', () => {
  let stack: Stack
  let orders: ResourceServer
  let billing: ResourceServer
  before(async () => {
    ;[orders, billing] = await Promise.all([startResourceServer(ORDERS), startResourceServer(BILLING)])
    stack = await startStack({
      instances: 3,
      logLevel: 'warn',
      idp: { resources: { [ORDERS]: { ttl: TTL }, [BILLING]: { ttl: TTL } } },
      config: { tokens: { refreshBefore: '1s' } },
      extraRoutes: [
        { path: '/orders', target: orders.url, resource: ORDERS, stripPath: true },
        { path: '/billing', target: billing.url, resource: BILLING, stripPath: true },
      ],
    })
    orders.trust(stack.idp.issuer)
    billing.trust(stack.idp.issuer)
  })
  after(() => Promise.all([stack.stop(), orders.stop(), billing.stop()]))

  const refreshGrants = () => stack.idp.grants['refresh_token'] ?? 0

  test('each route\'s target sees a token for its own aud, never the other\'s; a route without resource keeps the login\'s token', async () => {
    const { client } = await stack.login()
    for (const [path, aud] of [['/orders/x', ORDERS], ['/billing/y', BILLING], ['/orders/z', ORDERS]] as const) {
      const response = await client.request(`${stack.cloakroom.url}${path}`, { headers: CSRF })
      assert.equal(response.status, 200, path)
      assert.equal(((await response.json()) as { aud: string }).aud, aud, path)
    }
    assert.deepEqual(orders.audiences, [ORDERS, ORDERS])
    assert.deepEqual(billing.audiences, [BILLING])
    // The login's own token (for userinfo, opaque): what /api gets, and what neither API takes.
    const echoed = await client.request(`${stack.cloakroom.url}/api/x`, { headers: CSRF })
    const loginToken = ((await echoed.json()) as { headers: Record<string, string> }).headers['authorization'] ?? ''
    assert.match(loginToken, /^Bearer [^.]+$/, 'an opaque token, not a JWT for either API')
    assert.equal((await fetch(`${orders.url}/x`, { headers: { authorization: loginToken } })).status, 401)
  })

  test('50 concurrent calls over 3 instances on the two resource routes: exactly one refresh grant per resource, the first time and once the tokens are due', async () => {
    const { client } = await stack.login()
    // One browser, its cookie sent to every instance (as behind a load balancer).
    const cookie = `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
    const burst = async () => {
      const before = refreshGrants()
      const statuses = await Promise.all(Array.from({ length: 50 }, async (_, index) => {
        const instance = stack.instances[index % 3]?.url ?? ''
        const response = await fetch(`${instance}${index % 2 === 0 ? '/orders' : '/billing'}/${index}`, { headers: { ...CSRF, cookie } })
        await response.arrayBuffer()
        return response.status
      }))
      assert.deepEqual(new Set(statuses), new Set([200]))
      return refreshGrants() - before
    }
    assert.equal(await burst(), 2, 'the first token for each resource')
    await new Promise((resolve) => setTimeout(resolve, (TTL - 1) * 1000 + 200))
    assert.equal(await burst(), 2, 'one refresh per resource once due')
    assert.equal(stack.idp.revokedGrants, 0, 'no refresh token was presented twice')
  })

  test('check tries each route\'s resource at the issuer: accepted ones are ok, a refused one fails (exit 1)', async () => {
    const unknown = 'https://unknown.example.com'
    const routes = [...(stack.config['routes'] as object[]), { path: '/unknown', target: orders.url, resource: unknown }]
    routes.splice(routes.length - 2, 0, routes.pop() as object)
    const { code, stdout } = await runCli(['check', '--config', '{config}'], { ...stack.config, listen: { port: 0 }, routes }, 25_000)
    assert.equal(code, 1, stdout)
    const lines = stdout.split('\n').filter((line) => line.startsWith('resource indicators:'))
    assert.deepEqual(lines, [
      `resource indicators: ok ${ORDERS} accepted by the issuer (/orders)`,
      `resource indicators: ok ${BILLING} accepted by the issuer (/billing)`,
      `resource indicators: FAILED ${unknown} refused by the issuer (invalid_target): /unknown cannot get a token`,
    ])
  })

  test('a resource the issuer refuses (invalid_target) makes its route 503 idp_unavailable; the session and the other routes carry on', async () => {
    const { client } = await stack.login()
    assert.equal((await client.request(`${stack.cloakroom.url}/orders/x`, { headers: CSRF })).status, 200)
    stack.idp.refuseResource(BILLING)
    const refused = await client.request(`${stack.cloakroom.url}/billing/x`, { headers: CSRF })
    assert.equal(refused.status, 503)
    assert.equal(((await refused.json()) as { code: string }).code, 'idp_unavailable')
    assert.equal((await client.request(`${stack.cloakroom.url}/orders/x`, { headers: CSRF })).status, 200)
    assert.equal((await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })).status, 200)
  })
})

describe('a route whose resource the issuer refuses from the start', () => {
  const UNKNOWN = 'https://unknown.example.com'
  let stack: Stack
  let orders: ResourceServer
  before(async () => {
    orders = await startResourceServer(ORDERS)
    stack = await startStack({
      logLevel: 'warn',
      idp: { resources: { [ORDERS]: {} } },
      extraRoutes: [
        { path: '/orders', target: orders.url, resource: ORDERS, stripPath: true },
        { path: '/unknown', target: orders.url, resource: UNKNOWN, stripPath: true },
      ],
    })
    orders.trust(stack.idp.issuer)
  })
  after(() => Promise.all([stack.stop(), orders.stop()]))

  test('logins still work, asking for the resources the issuer takes; that route alone is 503 idp_unavailable, and the log says why at startup', async () => {
    const { client, hops } = await stack.login()
    assert.deepEqual(stack.idp.authorizationParams(hops[0]?.location ?? '').getAll('resource'), [ORDERS])
    assert.equal((await client.request(`${stack.cloakroom.url}/orders/x`, { headers: CSRF })).status, 200)
    const refused = await client.request(`${stack.cloakroom.url}/unknown/x`, { headers: CSRF })
    assert.equal(refused.status, 503)
    assert.equal(((await refused.json()) as { code: string }).code, 'idp_unavailable')
    assert.equal((await client.request(`${stack.cloakroom.url}/api/x`, { headers: CSRF })).status, 200)
    assert.match(stack.cloakroom.output(), /"event":"resource_refused","resource":"https:\/\/unknown\.example\.com","routes":\["\/unknown"\]/)
  })
})
