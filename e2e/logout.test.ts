import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { startStack, CLIENT_ID, type Stack } from './fixtures/stack.ts'
import type { CookieClient } from './fixtures/cookie-client.ts'

const CSRF = { 'x-csrf': '1' }
const EVENT = 'http://schemas.openid.net/event/backchannel-logout'

let stack: Stack
before(async () => { stack = await startStack({ instances: 2, accessTokenTtl: 6, config: { tokens: { refreshBefore: '3s' }, timeouts: { idp: '2s' } } }) })
after(async () => { await stack.stop() })

const cookieOf = (client: CookieClient) => `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`

/** The status of an API call with `cookie` on every instance. */
async function statusEverywhere(cookie: string): Promise<number[]> {
  return Promise.all(stack.instances.map(async (instance) => (await fetch(`${instance.url}/api/x`, { headers: { ...CSRF, cookie } })).status))
}

async function userinfoStatus(accessToken: string): Promise<number> {
  return (await fetch(`${stack.idp.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status
}

async function accessTokenSeenUpstream(cookie: string): Promise<string> {
  const response = await fetch(`${stack.cloakroom.url}/api/x`, { headers: { ...CSRF, cookie } })
  return ((await response.json()) as { headers: Record<string, string> }).headers['authorization']?.slice(7) ?? ''
}

/** Logs in a fresh account, so revoking its grants at the IdP touches no other test's session. */
async function loginAs(account: string) {
  stack.idp.setUser(account)
  try {
    return await stack.login()
  } finally {
    stack.idp.setUser('alice')
  }
}

describe('refresh failures', () => {
  test('grant revoked at the IdP → 401 session_expired, then /auth/user 401', async () => {
    const { client } = await loginAs(`revoked-${randomUUID()}`)
    const cookie = cookieOf(client)
    await sleep(3200)
    await stack.idp.revokeGrants(String(((await (await fetch(`${stack.cloakroom.url}/auth/user`, { headers: { ...CSRF, cookie } })).json()) as { sub: string }).sub))
    const api = await fetch(`${stack.cloakroom.url}/api/x`, { headers: { ...CSRF, cookie } })
    assert.equal(api.status, 401)
    assert.equal(((await api.json()) as { code: string }).code, 'session_expired')
    assert.match(api.headers.get('set-cookie') ?? '', /^cloakroom=; .*Max-Age=0/)
    const user = await fetch(`${stack.cloakroom.url}/auth/user`, { headers: { ...CSRF, cookie } })
    assert.equal(user.status, 401)
    assert.deepEqual(await statusEverywhere(cookie), [401, 401])
  })

  test('IdP stopped → 503 idp_unavailable, session kept; IdP back on the same port → the same cookie works', async () => {
    const { client } = await stack.login()
    const cookie = cookieOf(client)
    await sleep(3200)
    await stack.idp.halt()
    try {
      const down = await fetch(`${stack.cloakroom.url}/api/x`, { headers: { ...CSRF, cookie } })
      assert.equal(down.status, 503)
      assert.equal(((await down.json()) as { code: string }).code, 'idp_unavailable')
      assert.equal((await fetch(`${stack.cloakroom.url}/auth/user`, { headers: { ...CSRF, cookie } })).status, 200)
    } finally {
      await stack.idp.resume()
    }
    // A failed refresh is reported to the requests waiting on it for a moment (250 ms), then retried.
    await sleep(300)
    const deadline = Date.now() + 2000
    let statuses = await statusEverywhere(cookie)
    while (statuses.some((status) => status === 503) && Date.now() < deadline) {
      await sleep(250)
      statuses = await statusEverywhere(cookie)
    }
    assert.deepEqual(statuses, [200, 200])
  })
})

describe('logout', () => {
  test('POST /auth/logout revokes at the IdP, clears the cookie, and the old cookie is 401 on every instance', async () => {
    const { client } = await stack.login()
    const cookie = cookieOf(client)
    const accessToken = await accessTokenSeenUpstream(cookie)
    assert.equal(await userinfoStatus(accessToken), 200)
    const revokedBefore = stack.idp.revokedGrants

    const response = await fetch(`${stack.cloakroom.url}/auth/logout`, { method: 'POST', headers: { ...CSRF, cookie } })
    assert.equal(response.status, 200)
    assert.match(response.headers.get('set-cookie') ?? '', /^cloakroom=; Path=\/; HttpOnly; SameSite=Lax; Max-Age=0/)
    const { logoutUrl } = (await response.json()) as { logoutUrl: string }
    const url = new URL(logoutUrl)
    assert.equal(`${url.origin}${url.pathname}`, `${stack.idp.issuer}/session/end`)
    assert.ok((url.searchParams.get('id_token_hint') ?? '').split('.').length === 3)
    assert.equal(url.searchParams.get('post_logout_redirect_uri'), `${stack.cloakroom.url}/`)

    // Verified at the IdP: the grant is revoked, so the access token it issued no longer works.
    assert.equal(stack.idp.revokedGrants, revokedBefore + 1)
    assert.equal(await userinfoStatus(accessToken), 401)
    assert.deepEqual(await statusEverywhere(cookie), [401, 401])
  })

  test('without a session: POST still gives the end-session URL (to end the IdP session), GET with a sid is 400', async () => {
    const post = await fetch(`${stack.cloakroom.url}/auth/logout`, { method: 'POST', headers: CSRF })
    assert.equal(post.status, 200)
    const url = new URL(((await post.json()) as { logoutUrl: string }).logoutUrl)
    assert.equal(url.searchParams.get('client_id'), CLIENT_ID)
    assert.equal(url.searchParams.get('id_token_hint'), null)
    const get = await fetch(`${stack.cloakroom.url}/auth/logout?sid=anything`, { redirect: 'manual' })
    assert.equal(get.status, 400)
  })

  test('POST /auth/logout needs the CSRF header', async () => {
    const { client } = await stack.login()
    const response = await fetch(`${stack.cloakroom.url}/auth/logout`, { method: 'POST', headers: { cookie: cookieOf(client) } })
    assert.equal(response.status, 403)
    assert.deepEqual(await statusEverywhere(cookieOf(client)), [200, 200])
  })

  test('GET /auth/logout: a missing or wrong sid is 400 and ends nothing; the right sid logs out and redirects', async () => {
    const { client } = await stack.login()
    const cookie = cookieOf(client)
    for (const query of ['', '?sid=', '?sid=wrong']) {
      const response = await fetch(`${stack.cloakroom.url}/auth/logout${query}`, { headers: { cookie }, redirect: 'manual' })
      assert.equal(response.status, 400, query)
    }
    assert.deepEqual(await statusEverywhere(cookie), [200, 200])
    const { session } = (await (await fetch(`${stack.cloakroom.url}/auth/user`, { headers: { ...CSRF, cookie } })).json()) as { session: { sid: string } }
    const response = await fetch(`${stack.cloakroom.url}/auth/logout?sid=${encodeURIComponent(session.sid)}`, { headers: { cookie }, redirect: 'manual' })
    assert.equal(response.status, 302)
    assert.match(response.headers.get('location') ?? '', new RegExp(`^${stack.idp.issuer}/session/end\\?`))
    assert.deepEqual(await statusEverywhere(cookie), [401, 401])
  })
})

describe('back-channel logout', () => {
  test('the IdP ends its session: its logout token ends ours on every instance', async () => {
    const { client } = await stack.login()
    const cookie = cookieOf(client)
    const delivered = stack.idp.backchannelLogouts
    await stack.logoutAtIdp(client)
    assert.equal(stack.idp.backchannelLogouts, delivered + 1, 'the IdP delivered a logout token and Cloakroom accepted it')
    assert.deepEqual(await statusEverywhere(cookie), [401, 401])
  })

  test('invalid logout tokens are 400 and end nothing; a valid one ends the session everywhere', async () => {
    const { client } = await stack.login()
    const cookie = cookieOf(client)
    const user = (await (await fetch(`${stack.cloakroom.url}/auth/user`, { headers: { ...CSRF, cookie } })).json()) as { sub: string; claims: { sid: string } }
    assert.equal(typeof user.claims.sid, 'string', 'the ID token carries the IdP session id')
    const now = Math.floor(Date.now() / 1000)
    const valid = { iss: stack.idp.issuer, aud: CLIENT_ID, iat: now, jti: randomUUID(), events: { [EVENT]: {} }, sid: user.claims.sid, sub: user.sub }
    const signed = async (claims: Record<string, unknown>) => stack.idp.sign(claims)
    const tamper = (jwt: string) => {
      const [header, payload] = jwt.split('.')
      const forged = Buffer.from(JSON.stringify({ ...valid, sub: 'someone-else' })).toString('base64url')
      return `${header}.${forged}.${jwt.split('.')[2]}` + (payload === forged ? 'x' : '')
    }
    const { events: _events, ...withoutEvents } = valid
    const variants: Record<string, string> = {
      'bad signature': tamper(await signed(valid)),
      'alg none': `${Buffer.from('{"alg":"none","typ":"logout+jwt"}').toString('base64url')}.${Buffer.from(JSON.stringify(valid)).toString('base64url')}.`,
      'wrong aud': await signed({ ...valid, aud: 'another-client' }),
      'wrong iss': await signed({ ...valid, iss: 'http://evil.example' }),
      'nonce present': await signed({ ...valid, nonce: 'n' }),
      'events missing': await signed(withoutEvents),
      'wrong event': await signed({ ...valid, events: { 'http://schemas.openid.net/event/other': {} } }),
      'expired': await signed({ ...valid, iat: now - 3600, exp: now - 3000 }),
      'issued long ago': await signed({ ...valid, iat: now - 3600 }),
      'neither sub nor sid': await signed({ ...valid, sub: undefined, sid: undefined }),
      'not a JWT': 'hello',
    }
    for (const [name, token] of Object.entries(variants)) {
      const response = await fetch(`${stack.cloakroom.url}/auth/backchannel-logout`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }).toString(),
      })
      assert.equal(response.status, 400, name)
      assert.equal(((await response.json()) as { code: string }).code, 'bad_request', name)
    }
    const noToken = await fetch(`${stack.cloakroom.url}/auth/backchannel-logout`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' })
    assert.equal(noToken.status, 400)
    assert.deepEqual(await statusEverywhere(cookie), [200, 200], 'no invalid token ended the session')

    const response = await fetch(`${stack.instances[1]?.url}/auth/backchannel-logout`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: await signed({ ...valid, jti: randomUUID() }) }).toString(),
    })
    assert.equal(response.status, 200)
    assert.deepEqual(await statusEverywhere(cookie), [401, 401])
  })

  test('a logout token is good once: a replay is 400 and ends nothing', async () => {
    const account = `replay-${randomUUID()}`
    await loginAs(account)
    const token = await stack.idp.sign({ iss: stack.idp.issuer, aud: CLIENT_ID, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), events: { [EVENT]: {} }, sub: account })
    const post = () => fetch(`${stack.cloakroom.url}/auth/backchannel-logout`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }).toString(),
    })
    assert.equal((await post()).status, 200)
    const later = await loginAs(account)
    const replay = await post()
    assert.equal(replay.status, 400)
    assert.match(((await replay.json()) as { detail: string }).detail, /already used/)
    assert.deepEqual(await statusEverywhere(cookieOf(later.client)), [200, 200], 'the login after the logout survives the replay')
  })

  test('a logout token naming only the subject ends all of its sessions', async () => {
    const account = `bob-${randomUUID()}`
    const [first, second] = [await loginAs(account), await loginAs(account)]
    const token = await stack.idp.sign({ iss: stack.idp.issuer, aud: CLIENT_ID, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), events: { [EVENT]: {} }, sub: account })
    const response = await fetch(`${stack.cloakroom.url}/auth/backchannel-logout`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ logout_token: token }).toString(),
    })
    assert.equal(response.status, 200)
    assert.deepEqual(await statusEverywhere(cookieOf(first.client)), [401, 401])
    assert.deepEqual(await statusEverywhere(cookieOf(second.client)), [401, 401])
  })
})
