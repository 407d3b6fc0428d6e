import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createClient } from 'redis'
import { startStack, type Stack } from './fixtures/stack.ts'
import { createCookieClient, type CookieClient } from './fixtures/cookie-client.ts'

const CSRF = { 'x-csrf': '1' }

let stack: Stack
before(async () => { stack = await startStack() })
after(async () => { await stack.stop() })

/** Starts a login and walks the IdP's redirects, stopping before Cloakroom's callback; returns its URL. */
async function userinfoSub(accessToken: string): Promise<string> {
  const response = await fetch(`${stack.idp.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } })
  assert.equal(response.status, 200, 'the IdP does not know the token')
  return ((await response.json()) as { sub: string }).sub
}

describe('login through the real IdP', () => {
  test('login → /auth/user → API call with the IdP-issued Bearer token and no session cookie', async () => {
    const { client, hops } = await stack.login('/inbox?folder=1#top')
    assert.equal(hops.at(-2)?.location, '/inbox?folder=1#top')
    const login = hops[0]
    assert.equal(login?.status, 302)
    const authorize = new URL(login?.location ?? '')
    assert.equal(authorize.origin + authorize.pathname, `${stack.idp.issuer}/auth`)
    // The IdP offers PAR (oidc.pushedAuthorizationRequests: auto): the browser carries no parameter of the request.
    assert.deepEqual([...authorize.searchParams.keys()].sort(), ['client_id', 'request_uri'])
    const pushed = stack.idp.authorizationParams(authorize)
    assert.equal(pushed.get('response_type'), 'code')
    assert.equal(pushed.get('code_challenge_method'), 'S256')
    assert.match(pushed.get('state') ?? '', /^[\w-]{43}$/)
    assert.match(pushed.get('nonce') ?? '', /^[\w-]{43}$/)

    const user = await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })
    assert.equal(user.status, 200)
    const body = (await user.json()) as { sub: string; claims: Record<string, unknown>; session: Record<string, number | string> }
    assert.equal(body.sub, 'alice')
    assert.equal(body.claims['email'], 'alice@example.com')
    assert.equal(typeof body.session['sid'], 'string')
    assert.ok(Number(body.session['idleExpiresAt']) <= Number(body.session['expiresAt']))

    const api = await client.request(`${stack.cloakroom.url}/api/things?x=1`, { headers: { ...CSRF, authorization: 'Bearer forged-by-browser' } })
    assert.equal(api.status, 200)
    const seen = (await api.json()) as { url: string; headers: Record<string, string> }
    assert.equal(seen.url, '/api/things?x=1')
    const bearer = seen.headers['authorization'] ?? ''
    assert.match(bearer, /^Bearer /)
    assert.notEqual(bearer, 'Bearer forged-by-browser')
    assert.equal(await userinfoSub(bearer.slice(7)), 'alice')
    assert.equal(seen.headers['cookie'], undefined)
    assert.equal(seen.headers['x-forwarded-proto'], 'http')
    assert.equal(seen.headers['x-forwarded-host'], new URL(stack.cloakroom.url).host)
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
  })

  test('the session cookie is small, HttpOnly, and holds no token; Redis holds none in clear', async () => {
    const { client, hops } = await stack.login()
    const callback = hops.find((hop) => hop.url.includes('/auth/callback'))
    const setCookie = callback?.setCookies.find((line) => line.startsWith('cloakroom='))
    assert.ok(setCookie)
    assert.match(setCookie, /; Path=\/; HttpOnly; SameSite=Lax; Max-Age=43200$/)
    const cookie = client.cookies(stack.cloakroom.url).get('cloakroom') ?? ''
    assert.ok(cookie.length > 0 && cookie.length < 400, `cookie is ${cookie.length} bytes`)

    const api = await client.request(`${stack.cloakroom.url}/api/x`, { headers: CSRF })
    const token = ((await api.json()) as { headers: Record<string, string> }).headers['authorization']?.slice(7) ?? ''
    assert.ok(token.length > 10)
    assert.ok(!cookie.includes(token))

    const redis = createClient({ url: stack.redis.url })
    await redis.connect()
    try {
      const dump: string[] = []
      for (const key of await redis.keys('*')) {
        const type = await redis.type(key)
        const value = type === 'hash' ? await redis.hGetAll(key) : type === 'set' ? await redis.sMembers(key) : await redis.get(key)
        dump.push(key, JSON.stringify(value))
      }
      const everything = dump.join('\n')
      assert.ok(everything.length > 0)
      for (const secret of [token, 'alice@example.com', 'Alice Example']) {
        assert.ok(!everything.includes(secret), 'Redis holds a secret in clear')
      }
    } finally {
      await redis.quit()
    }
  })

  test('every login gets a new session id, and the previous session ends', async () => {
    const { client } = await stack.login()
    const first = client.cookies(stack.cloakroom.url).get('cloakroom')
    const firstSid = ((await (await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })).json()) as { session: { sid: string } }).session.sid
    const { response } = await client.follow(`${stack.cloakroom.url}/auth/login`)
    await response.arrayBuffer()
    const second = client.cookies(stack.cloakroom.url).get('cloakroom')
    assert.ok(first !== undefined && second !== undefined)
    const now = (await (await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })).json()) as { session: { sid: string } }
    assert.notEqual(now.session.sid, firstSid)
    const old = await fetch(`${stack.cloakroom.url}/auth/user`, { headers: { ...CSRF, cookie: `cloakroom=${first}` } })
    assert.equal(old.status, 401)
  })

  test('several logins in parallel in one browser each complete', async () => {
    const client = createCookieClient()
    const first = await stack.callbackUrlFor(client, '/one')
    const second = await stack.callbackUrlFor(client, '/two')
    const finishSecond = await client.request(second)
    assert.equal(finishSecond.status, 302)
    assert.equal(finishSecond.headers.get('location'), '/two')
    const finishFirst = await client.request(first)
    assert.equal(finishFirst.status, 302)
    assert.equal(finishFirst.headers.get('location'), '/one')
  })
})

describe('callback failures: a 400 page naming the problem, and no session', () => {
  async function assertRefused(response: Response, words: RegExp): Promise<void> {
    assert.equal(response.status, 400)
    assert.match(response.headers.get('content-type') ?? '', /text\/html/)
    assert.match(await response.text(), words)
    assert.ok(!response.headers.getSetCookie().some((line) => line.startsWith('cloakroom=') && !/Max-Age=0/.test(line)))
  }

  test('the IdP reports an error (access_denied)', async () => {
    const client = createCookieClient()
    const login = await client.request(`${stack.cloakroom.url}/auth/login`)
    const state = stack.idp.authorizationParams(login.headers.get('location') ?? '').get('state')
    const response = await client.request(`${stack.cloakroom.url}/auth/callback?error=access_denied&state=${state}&iss=${encodeURIComponent(stack.idp.issuer)}`)
    await assertRefused(response, /access_denied/)
  })

  test('no state, an unknown state', async () => {
    const client = createCookieClient()
    await assertRefused(await client.request(`${stack.cloakroom.url}/auth/callback?code=abc`), /no state/)
    await assertRefused(await client.request(`${stack.cloakroom.url}/auth/callback?code=abc&state=unknown`), /unknown|expired/)
  })

  test('a replayed callback', async () => {
    const client = createCookieClient()
    const url = await stack.callbackUrlFor(client)
    assert.equal((await client.request(url)).status, 302)
    await assertRefused(await client.request(url), /already used/)
  })

  test('a pending login expires by itself (its Redis key has a TTL of at most 10 minutes)', async () => {
    const client = createCookieClient()
    await (await client.request(`${stack.cloakroom.url}/auth/login`)).arrayBuffer()
    const redis = createClient({ url: stack.redis.url })
    await redis.connect()
    try {
      const keys = await redis.keys('cloakroom:login:*')
      assert.ok(keys.length > 0)
      for (const key of keys) {
        const ttl = await redis.ttl(key)
        assert.ok(ttl > 0 && ttl <= 600, `TTL ${ttl}`)
      }
    } finally {
      await redis.quit()
    }
  })

  test('a state this browser did not start (login CSRF)', async () => {
    const attacker = createCookieClient()
    const url = await stack.callbackUrlFor(attacker)
    const victim = createCookieClient()
    await assertRefused(await victim.request(url), /not started in this browser/)
    // The attempt consumed the state: the attacker cannot use it either.
    await assertRefused(await attacker.request(url), /already used/)
  })

  test('a failed code exchange (forged code, or a code whose PKCE verifier belongs to another login)', async () => {
    const client = createCookieClient()
    const one = new URL(await stack.callbackUrlFor(client))
    const two = new URL(await stack.callbackUrlFor(client))
    two.searchParams.set('code', one.searchParams.get('code') ?? '')
    await assertRefused(await client.request(two.href), /Login failed \(invalid_grant\)/)
    one.searchParams.set('code', 'forged')
    await assertRefused(await client.request(one.href), /Login failed/)
  })

  test('a wrong iss response parameter (RFC 9207)', async () => {
    const client = createCookieClient()
    const url = new URL(await stack.callbackUrlFor(client))
    url.searchParams.set('iss', 'http://evil.example')
    await assertRefused(await client.request(url.href), /Login failed/)
  })
})

describe('returnTo', () => {
  const escapes = ['//evil.example/x', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', 'http:/evil.example',
    '/\t/evil.example', '%2F%2Fevil.example', '/%2F%2Fevil.example', '/%5Cevil.example', '%2f%5cevil.example', ' /x', '\\\\evil.example']
  for (const value of escapes) {
    test(`escape attempt ${JSON.stringify(value)} lands on /`, async () => {
      const { hops } = await stack.login(value)
      assert.equal(hops.at(-2)?.location, '/')
    })
  }

  test('the raw, double-encoded form lands on / too', async () => {
    const client = createCookieClient()
    const { hops } = await client.follow(`${stack.cloakroom.url}/auth/login?returnTo=%252F%252Fevil.example`)
    assert.equal(hops.at(-2)?.location, '/')
  })
})
