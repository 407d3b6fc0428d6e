import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startStack, type Stack } from './fixtures/stack.ts'
import { SESSION_SECRET } from './fixtures/cloakroom.ts'
import { createCookieClient, type CookieClient } from './fixtures/cookie-client.ts'

const CSRF = { 'x-csrf': '1' }
/** How many login cookies a browser keeps at most (SPEC: a browser never holds more than a few). */
const MAX_LOGIN_COOKIES = 4
const isLoginCookie = (name: string) => name.startsWith('cloakroom-login')

const loginCookiesIn = (client: CookieClient, stack: Stack) => [...client.cookies(stack.cloakroom.url).keys()].filter(isLoginCookie).sort()

/** Follows a login's redirects through the IdP (auto-login), stopping before Cloakroom's callback; returns its URL. */
async function walkToCallback(client: CookieClient, stack: Stack, authorizeUrl: string): Promise<string> {
  let url = authorizeUrl
  for (let i = 0; i < 15; i++) {
    if (url.startsWith(`${stack.cloakroom.url}/auth/callback`)) return url
    const response = await client.request(url)
    await response.arrayBuffer()
    const location = response.headers.get('location')
    assert.ok(location, `no redirect from ${url} (${response.status})`)
    url = new URL(location, url).href
  }
  throw new Error('never reached the callback')
}

/** GET /auth/login (no redirect followed): the authorization URL and the Set-Cookie lines. */
async function startLogin(client: CookieClient, stack: Stack, returnTo: string): Promise<{ authorizeUrl: string; setCookies: string[] }> {
  const response = await client.request(`${stack.cloakroom.url}/auth/login?returnTo=${encodeURIComponent(returnTo)}`)
  await response.arrayBuffer()
  assert.equal(response.status, 302)
  return { authorizeUrl: response.headers.get('location') ?? '', setCookies: response.headers.getSetCookie() }
}

async function finish(client: CookieClient, stack: Stack, callbackUrl: string): Promise<Response> {
  const response = await client.request(callbackUrl)
  await response.arrayBuffer()
  return response
}

async function userStatus(client: CookieClient, stack: Stack): Promise<number> {
  const response = await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })
  await response.arrayBuffer()
  return response.status
}

for (const sameSite of ['lax', 'strict'] as const) {
  describe(`two tabs of a browser with no cookie start a login at the same moment (session.sameSite ${sameSite})`, () => {
    let stack: Stack
    before(async () => { stack = await startStack({ config: { session: { secrets: [SESSION_SECRET], sameSite } } }) })
    after(async () => { await stack.stop() })

    test('both complete, each to its own returnTo, and no login cookie is left behind', async () => {
      const client = createCookieClient()
      // Both requests leave with the same (empty) jar, as two tabs of a restored browser session do.
      const [a, b] = await Promise.all([startLogin(client, stack, '/a'), startLogin(client, stack, '/b')])
      for (const { setCookies } of [a, b]) {
        const login = setCookies.filter((line) => isLoginCookie(line))
        assert.equal(login.length, 1, setCookies.join('\n'))
        // Lax whatever session.sameSite says: the IdP's redirect back is a cross-site navigation.
        assert.match(login[0] ?? '', /^cloakroom-login[^=]*=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=600$/)
      }

      const callbackA = await walkToCallback(client, stack, a.authorizeUrl)
      const callbackB = await walkToCallback(client, stack, b.authorizeUrl)
      // The tab that started last finishes first: either order must work.
      const finishedB = await finish(client, stack, callbackB)
      assert.equal(finishedB.status, 302, 'the second tab was refused')
      assert.equal(finishedB.headers.get('location'), '/b')
      assert.equal(await userStatus(client, stack), 200)
      const finishedA = await finish(client, stack, callbackA)
      assert.equal(finishedA.status, 302, 'the first tab was refused')
      assert.equal(finishedA.headers.get('location'), '/a')
      assert.equal(await userStatus(client, stack), 200)
      const session = finishedA.headers.getSetCookie().find((line) => line.startsWith('cloakroom='))
      assert.match(session ?? '', new RegExp(`; SameSite=${sameSite === 'strict' ? 'Strict' : 'Lax'}; `))

      assert.deepEqual(loginCookiesIn(client, stack), [])
    })
  })
}

describe('login cookies: one per login, bounded, cleared when done', () => {
  let stack: Stack
  before(async () => { stack = await startStack() })
  after(async () => { await stack.stop() })

  test(`a browser holding ${MAX_LOGIN_COOKIES} login cookies that starts another keeps ${MAX_LOGIN_COOKIES}: the oldest login is given up`, async () => {
    const client = createCookieClient()
    const started = []
    for (let i = 1; i <= MAX_LOGIN_COOKIES; i++) started.push(await startLogin(client, stack, `/tab${i}`))
    assert.equal(loginCookiesIn(client, stack).length, MAX_LOGIN_COOKIES)

    const latest = await startLogin(client, stack, '/latest')
    assert.equal(loginCookiesIn(client, stack).length, MAX_LOGIN_COOKIES)
    const cleared = latest.setCookies.filter((line) => isLoginCookie(line) && /Max-Age=0/.test(line))
    assert.equal(cleared.length, 1, latest.setCookies.join('\n'))

    const finishedLatest = await finish(client, stack, await walkToCallback(client, stack, latest.authorizeUrl))
    assert.equal(finishedLatest.headers.get('location'), '/latest')
    const finishedFirst = await finish(client, stack, await walkToCallback(client, stack, started[0]?.authorizeUrl ?? ''))
    assert.equal(finishedFirst.status, 400)
    assert.match(await (await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })).text(), /"sub"/)
    const finishedSecond = await finish(client, stack, await walkToCallback(client, stack, started[1]?.authorizeUrl ?? ''))
    assert.equal(finishedSecond.headers.get('location'), '/tab2')
    // Left: the third and fourth logins' cookies, until those logins complete or expire.
    assert.equal(loginCookiesIn(client, stack).length, MAX_LOGIN_COOKIES - 2)
  })

  test('a login cookie from another login of the same browser cannot finish this login', async () => {
    const client = createCookieClient()
    const first = await startLogin(client, stack, '/first')
    const second = await startLogin(client, stack, '/second')
    const pair = (lines: string[]) => (lines.find((line) => isLoginCookie(line) && !/Max-Age=0/.test(line)) ?? '').split(';')[0] ?? ''
    const [firstName = '', firstValue = ''] = pair(first.setCookies).split('=')
    const [secondName = ''] = pair(second.setCookies).split('=')
    assert.ok(firstName !== '' && secondName !== '')
    const callback = await walkToCallback(client, stack, second.authorizeUrl)
    const response = await fetch(callback, { redirect: 'manual', headers: { cookie: `${secondName}=${firstValue}` } })
    assert.equal(response.status, 400)
    assert.match(await response.text(), /not started in this browser/)
    assert.ok(!response.headers.getSetCookie().some((line) => line.startsWith('cloakroom=') && !/Max-Age=0/.test(line)))
  })

  test('a failed callback clears its login cookie too (IdP error, forged code)', async () => {
    const client = createCookieClient()
    const denied = await startLogin(client, stack, '/')
    const state = stack.idp.authorizationParams(denied.authorizeUrl).get('state') ?? ''
    const refused = await client.request(`${stack.cloakroom.url}/auth/callback?error=access_denied&state=${state}&iss=${encodeURIComponent(stack.idp.issuer)}`)
    assert.equal(refused.status, 400)
    assert.ok(refused.headers.getSetCookie().some((line) => isLoginCookie(line) && /Max-Age=0/.test(line)))
    assert.deepEqual(loginCookiesIn(client, stack), [])

    const forged = new URL(await walkToCallback(client, stack, (await startLogin(client, stack, '/')).authorizeUrl))
    forged.searchParams.set('code', 'forged')
    assert.equal((await finish(client, stack, forged.href)).status, 400)
    assert.deepEqual(loginCookiesIn(client, stack), [])
  })

  test('logout clears every login cookie the browser sent; none reaches a target', async () => {
    const { client } = await stack.login('/')
    await startLogin(client, stack, '/x')
    await startLogin(client, stack, '/y')
    assert.equal(loginCookiesIn(client, stack).length, 2)

    const api = await client.request(`${stack.cloakroom.url}/api/x`, { headers: { ...CSRF, cookie: [...client.cookies(stack.cloakroom.url)].map(([k, v]) => `${k}=${v}`).concat('theirs=1').join('; ') } })
    assert.equal(api.status, 200)
    assert.equal(((await api.json()) as { headers: Record<string, string> }).headers['cookie'], 'theirs=1')

    const logout = await client.request(`${stack.cloakroom.url}/auth/logout`, { method: 'POST', headers: CSRF })
    assert.equal(logout.status, 200)
    await logout.arrayBuffer()
    assert.deepEqual(loginCookiesIn(client, stack), [])
    assert.equal(client.cookies(stack.cloakroom.url).has('cloakroom'), false)
  })
})
