import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { startStack, CLIENT_ID, type Stack } from './fixtures/stack.ts'
import { runCli } from './fixtures/cloakroom.ts'
import { createCookieClient, type CookieClient } from './fixtures/cookie-client.ts'

/**
 * Cloakroom against an IdP set up unlike the demo's, as other production issuers are: served under a
 * path with an issuer that ends in a slash, no revocation endpoint, no end_session endpoint, no RFC 9207
 * `iss` authorization response parameter, client_secret_post, refresh tokens not rotated, ES256 keys.
 */
const CSRF = { 'x-csrf': '1' }

let stack: Stack
before(async () => {
  stack = await startStack({
    accessTokenTtl: 6,
    config: { tokens: { refreshBefore: '3s' } },
    idp: {
      mountPath: '/idp/',
      revocation: false,
      issAuthResp: false,
      endSession: false,
      rotateRefreshTokens: false,
      signingAlg: 'ES256',
      tokenEndpointAuthMethod: 'client_secret_post',
    },
  })
})
after(async () => { await stack.stop() })

/** An endpoint of the issuer: relative to it, so the issuer's trailing slash makes no `//`. */
const idpUrl = (path: string) => new URL(path, stack.idp.issuer).href

const cookieOf = (client: CookieClient) => `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`

/** Cloakroom's JSON log lines so far (complete lines only: the last may still be arriving). */
function logLines(): Record<string, unknown>[] {
  return stack.cloakroom.output().split('\n').slice(0, -1).filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
}

/** The log lines after the first `since` that `match`, once there are some (a line reaches the pipe after its response may). */
async function logLinesAfter(since: number, match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 2000
  for (;;) {
    const found = logLines().slice(since).filter(match)
    if (found.length > 0 || Date.now() > deadline) return found
    await sleep(25)
  }
}

async function userinfo(accessToken: string): Promise<{ status: number; sub: string | undefined }> {
  const response = await fetch(idpUrl('me'), { headers: { authorization: `Bearer ${accessToken}` } })
  const body = response.ok ? ((await response.json()) as { sub: string }) : (await response.arrayBuffer(), undefined)
  return { status: response.status, sub: body?.sub }
}

/** The access token the echo upstream received for an API call with `cookie`. */
async function tokenSeenUpstream(cookie: string): Promise<string> {
  const response = await fetch(`${stack.cloakroom.url}/api/x`, { headers: { ...CSRF, cookie } })
  assert.equal(response.status, 200)
  const bearer = ((await response.json()) as { headers: Record<string, string> }).headers['authorization'] ?? ''
  assert.match(bearer, /^Bearer \S+$/)
  return bearer.slice(7)
}

/** Starts a login and walks the IdP's redirects, stopping before Cloakroom's callback; returns its URL. */
async function assertRefused(response: Response, words: RegExp): Promise<void> {
  assert.equal(response.status, 400)
  assert.match(response.headers.get('content-type') ?? '', /text\/html/)
  assert.match(await response.text(), words)
  assert.ok(!response.headers.getSetCookie().some((line) => line.startsWith('cloakroom=') && !/Max-Age=0/.test(line)), 'no session cookie')
}

describe('the IdP, as its discovery describes it', () => {
  test('issuer with a trailing slash under /idp/; no revocation, end_session or iss response parameter; Cloakroom is ready', async () => {
    assert.match(stack.idp.issuer, /^http:\/\/127\.0\.0\.1:\d+\/idp\/$/)
    assert.equal((stack.config['oidc'] as { issuer: string }).issuer, stack.idp.issuer)
    assert.equal((stack.config['oidc'] as { tokenEndpointAuthMethod: string }).tokenEndpointAuthMethod, 'client_secret_post')
    const metadata = (await (await fetch(idpUrl('.well-known/openid-configuration'))).json()) as Record<string, unknown>
    assert.equal(metadata['issuer'], stack.idp.issuer)
    assert.equal(metadata['authorization_endpoint'], idpUrl('auth'))
    assert.equal(metadata['token_endpoint'], idpUrl('token'))
    assert.equal(metadata['revocation_endpoint'], undefined)
    assert.equal(metadata['end_session_endpoint'], undefined)
    assert.equal(metadata['authorization_response_iss_parameter_supported'], undefined)
    assert.deepEqual(metadata['id_token_signing_alg_values_supported'], ['ES256'])
    // Nothing at the origin's root: Cloakroom can only have found the document under /idp/.
    const origin = new URL(stack.idp.issuer).origin
    assert.equal((await fetch(`${origin}/.well-known/openid-configuration`)).status, 404)
    assert.equal((await fetch(`${stack.cloakroom.url}/readyz`)).status, 200)
  })

  test('cloakroom check against it: exit 0, no secret ever sent in an Authorization header (this IdP refuses that)', async () => {
    const { code, stdout } = await runCli(['check', '--config', '{config}'], stack.config)
    assert.equal(code, 0, stdout)
    assert.ok(stdout.includes(stack.idp.issuer), stdout)
    assert.equal(stack.idp.tokenEndpointAuth['client_secret_basic'], undefined)
  })

  test('configured without the trailing slash, the issuer does not match its discovery document: check exits 1', async () => {
    const issuer = stack.idp.issuer.replace(/\/$/, '')
    const { code, stdout } = await runCli(['check', '--config', '{config}'], { ...stack.config, oidc: { ...(stack.config['oidc'] as object), issuer } })
    assert.equal(code, 1, stdout)
    // The operator is told which issuer the document names, slash included.
    const failed = stdout.split('\n').filter((line) => line.startsWith('issuer: FAILED'))
    assert.equal(failed.length, 1, stdout)
    assert.ok(failed[0]?.includes(stack.idp.issuer), stdout)
  })
})

describe('a session from login to logout', () => {
  test('login: 302 to the IdP under /idp/, a callback without iss is accepted, 302 to returnTo with the session cookie', async () => {
    const posted = stack.idp.tokenEndpointAuth['client_secret_post'] ?? 0
    const { client, hops } = await stack.login('/inbox?folder=1')
    const authorize = new URL(hops[0]?.location ?? '')
    assert.equal(hops[0]?.status, 302)
    assert.equal(authorize.origin + authorize.pathname, idpUrl('auth'))
    assert.equal(authorize.searchParams.get('client_id'), CLIENT_ID)
    assert.equal(stack.idp.authorizationParams(authorize).get('response_type'), 'code')
    assert.equal(stack.idp.authorizationParams(authorize).get('code_challenge_method'), 'S256')

    const callback = hops.find((hop) => hop.url.startsWith(`${stack.cloakroom.url}/auth/callback?`))
    assert.ok(callback, 'the IdP redirected to the callback')
    const params = new URL(callback.url).searchParams
    assert.ok((params.get('code') ?? '') !== '')
    assert.equal(params.has('iss'), false, 'the IdP sent no iss parameter')
    assert.equal(callback.status, 302)
    assert.equal(callback.location, '/inbox?folder=1')
    assert.ok(callback.setCookies.some((line) => /^cloakroom=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=43200$/.test(line)), callback.setCookies.join('\n'))

    const user = await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })
    assert.equal(user.status, 200)
    const body = (await user.json()) as { sub: string; claims: Record<string, unknown>; session: { sid: string } }
    assert.equal(body.sub, 'alice')
    assert.equal(body.claims['iss'], stack.idp.issuer, 'the ID token names the issuer with its trailing slash')
    assert.equal(body.claims['aud'], CLIENT_ID)
    assert.equal(body.claims['name'], 'Alice Example')
    assert.equal(body.claims['email'], 'alice@example.com')
    assert.equal(typeof body.session.sid, 'string')
    // Counted at the IdP, which refuses this client's secret in an Authorization header.
    assert.equal(stack.idp.tokenEndpointAuth['client_secret_post'], posted + 1)
    assert.equal(stack.idp.tokenEndpointAuth['client_secret_basic'], undefined)
  })

  test('an API call carries the access token the IdP issued (the IdP knows it), never the cookie', async () => {
    const { client } = await stack.login()
    const response = await client.request(`${stack.cloakroom.url}/api/things?x=1`, { headers: CSRF })
    assert.equal(response.status, 200)
    const seen = (await response.json()) as { url: string; headers: Record<string, string> }
    assert.equal(seen.url, '/api/things?x=1')
    assert.equal(seen.headers['cookie'], undefined)
    assert.deepEqual(await userinfo((seen.headers['authorization'] ?? '').slice(7)), { status: 200, sub: 'alice' })
  })

  test('refresh: once the token is due, one refresh grant for concurrent calls; the unrotated refresh token works again', async () => {
    const { client } = await stack.login()
    const cookie = cookieOf(client)
    const first = await tokenSeenUpstream(cookie)
    const refreshes = stack.idp.grants['refresh_token'] ?? 0
    assert.equal(await tokenSeenUpstream(cookie), first, 'not due yet: no refresh')
    assert.equal(stack.idp.grants['refresh_token'] ?? 0, refreshes)

    // 6 s tokens, refreshed 3 s before they expire.
    await sleep(3200)
    const second = await Promise.all(Array.from({ length: 5 }, () => tokenSeenUpstream(cookie)))
    assert.equal(new Set(second).size, 1, 'every concurrent call got the same new token')
    assert.notEqual(second[0], first)
    assert.equal(stack.idp.grants['refresh_token'], refreshes + 1, 'one refresh grant at the IdP')
    assert.deepEqual(await userinfo(second[0] ?? ''), { status: 200, sub: 'alice' })

    // This IdP does not rotate: the next refresh presents the same refresh token, and it still works.
    await sleep(3200)
    const third = await tokenSeenUpstream(cookie)
    assert.ok(third !== first && third !== second[0])
    assert.equal(stack.idp.grants['refresh_token'], refreshes + 2)
    assert.deepEqual(await userinfo(third), { status: 200, sub: 'alice' })
    assert.equal((await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })).status, 200)
  })

  test('POST /auth/logout without revocation or end_session endpoints: 200 {logoutUrl: null}, cookie cleared, session gone, the log says why', async () => {
    const { client } = await stack.login()
    const cookie = cookieOf(client)
    const accessToken = await tokenSeenUpstream(cookie)
    const revokedBefore = stack.idp.revokedGrants
    const linesBefore = logLines().length

    const response = await fetch(`${stack.cloakroom.url}/auth/logout`, { method: 'POST', headers: { ...CSRF, cookie } })
    assert.equal(response.status, 200)
    assert.deepEqual(await response.json(), { logoutUrl: null })
    assert.match(response.headers.get('set-cookie') ?? '', /^cloakroom=; Path=\/; HttpOnly; SameSite=Lax; Max-Age=0/)

    for (const path of ['/auth/user', '/api/x']) {
      const after = await fetch(`${stack.cloakroom.url}${path}`, { headers: { ...CSRF, cookie } })
      assert.equal(after.status, 401, path)
      assert.equal(((await after.json()) as { code: string }).code, 'unauthenticated', path)
    }

    // Nothing could be revoked: the IdP counts no revocation, and its access token lives out its TTL.
    assert.equal(stack.idp.revokedGrants, revokedBefore)
    assert.deepEqual(await userinfo(accessToken), { status: 200, sub: 'alice' })
    const logout = await logLinesAfter(linesBefore, (line) => line['event'] === 'session_ended' && line['reason'] === 'logout')
    assert.deepEqual(logout.map((line) => [line['revoked'], line['msg']]), [[false, 'session ended; nothing revoked: the issuer has no revocation endpoint']])
    assert.equal((await fetch(`${stack.cloakroom.url}/healthz`)).status, 200)
  })

  test('GET /auth/logout?sid=…: 302 to postLogoutRedirectUri (no end_session endpoint), session gone', async () => {
    const { client } = await stack.login()
    const cookie = cookieOf(client)
    const { session } = (await (await fetch(`${stack.cloakroom.url}/auth/user`, { headers: { ...CSRF, cookie } })).json()) as { session: { sid: string } }
    const response = await fetch(`${stack.cloakroom.url}/auth/logout?sid=${encodeURIComponent(session.sid)}`, { headers: { cookie }, redirect: 'manual' })
    assert.equal(response.status, 302)
    assert.equal(response.headers.get('location'), `${stack.cloakroom.url}/`)
    assert.equal((await fetch(`${stack.cloakroom.url}/auth/user`, { headers: { ...CSRF, cookie } })).status, 401)
  })

  test('back-channel logout: a logout token with the slashed issuer, signed with the IdP\'s ES256 key, ends the session', async () => {
    const { client } = await stack.login()
    const cookie = cookieOf(client)
    const user = (await (await fetch(`${stack.cloakroom.url}/auth/user`, { headers: { ...CSRF, cookie } })).json()) as { sub: string; claims: { sid: string } }
    const claims = { aud: CLIENT_ID, iat: Math.floor(Date.now() / 1000), events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sid: user.claims.sid, sub: user.sub }
    const post = async (iss: string) => fetch(`${stack.cloakroom.url}/auth/backchannel-logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: await stack.idp.sign({ ...claims, iss, jti: randomUUID() }) }).toString(),
    })
    const unslashed = await post(stack.idp.issuer.replace(/\/$/, ''))
    assert.equal(unslashed.status, 400, 'the issuer without its slash is another issuer')
    assert.equal((await fetch(`${stack.cloakroom.url}/auth/user`, { headers: { ...CSRF, cookie } })).status, 200)
    assert.equal((await post(stack.idp.issuer)).status, 200)
    assert.equal((await fetch(`${stack.cloakroom.url}/auth/user`, { headers: { ...CSRF, cookie } })).status, 401)
  })

  test('POST /auth/logout with no session: 200 {logoutUrl: null}', async () => {
    const response = await fetch(`${stack.cloakroom.url}/auth/logout`, { method: 'POST', headers: CSRF })
    assert.equal(response.status, 200)
    assert.deepEqual(await response.json(), { logoutUrl: null })
  })
})

describe('the iss response parameter, which this issuer does not advertise (RFC 9207 §2.4)', () => {
  test('a callback that adds a forged iss is refused: 400, no session, the state is spent', async () => {
    const client = createCookieClient()
    const url = new URL(await stack.callbackUrlFor(client))
    assert.equal(url.searchParams.has('iss'), false)
    url.searchParams.set('iss', 'http://evil.example/idp/')
    const linesBefore = logLines().length
    await assertRefused(await client.request(url.href), /Login failed/)
    // openid-client's reason ('unexpected "iss" (issuer) response parameter value') sits one cause
    // deeper than the log shows: the log names only its code.
    const warnings = await logLinesAfter(linesBefore, (line) => line['msg'] === 'Login failed')
    assert.equal(warnings.length, 1)
    assert.match(String(warnings[0]?.['cause']), /OAUTH_INVALID_RESPONSE/)
    url.searchParams.delete('iss')
    await assertRefused(await client.request(url.href), /already used/)
    assert.equal((await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })).status, 401)
  })

  test('the issuer without its trailing slash is another issuer: refused', async () => {
    const client = createCookieClient()
    const url = new URL(await stack.callbackUrlFor(client))
    url.searchParams.set('iss', stack.idp.issuer.replace(/\/$/, ''))
    await assertRefused(await client.request(url.href), /Login failed/)
  })

  test('an added iss that is exactly the issuer is accepted (openid-client compares it whenever present)', async () => {
    const client = createCookieClient()
    const url = new URL(await stack.callbackUrlFor(client))
    url.searchParams.set('iss', stack.idp.issuer)
    const response = await client.request(url.href)
    assert.equal(response.status, 302)
    assert.equal(response.headers.get('location'), '/')
    assert.equal((await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })).status, 200)
  })
})

describe('after it all', () => {
  test('every token endpoint call authenticated with client_secret_post (grants, and check proving the credentials)', () => {
    const { authorization_code: codes = 0, refresh_token: refreshes = 0, ...others } = stack.idp.grants
    assert.deepEqual(others, {})
    assert.deepEqual(Object.keys(stack.idp.tokenEndpointAuth), ['client_secret_post'])
    assert.ok((stack.idp.tokenEndpointAuth['client_secret_post'] ?? 0) >= codes + refreshes)
  })

  test('no unhandled error in Cloakroom\'s log', () => {
    const unhandled = logLines().filter((line) => line['msg'] === 'unhandled error' || Number(line['level']) >= 50)
    assert.deepEqual(unhandled, [])
  })
})
