import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { startStack, type Stack } from './fixtures/stack.ts'
import { createCookieClient } from './fixtures/cookie-client.ts'
import { ACR_MFA } from '../demo/idp.ts'

// Step-up (RFC 9470): a target's insufficient_user_authentication challenge, or a route's maxAge,
// becomes 401 step_up_required with a loginUrl; following it (through the real IdP) makes a new
// session that meets it.

const CSRF = { 'x-csrf': '1' }
let target: Server
let targetUrl: string
let stack: Stack
before(async () => {
  // Answers /strong with a step-up challenge and a body the browser must never see; anything else 200.
  target = createServer((req, res) => {
    req.resume()
    if (req.url?.includes('/strong') === true) {
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': 'Bearer realm="api", error="insufficient_user_authentication", error_description="MFA please", acr_values="urn:cloakroom:mfa", max_age=60',
      }).end('{"target":"secret-body"}')
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url }))
  })
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve))
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`
  stack = await startStack({
    config: {
      routes: [
        { path: '/recent', target: targetUrl, token: 'user', maxAge: '2s' },
        { path: '/payments', target: targetUrl, token: 'user', acrValues: [ACR_MFA] },
        { path: '/api', target: targetUrl, token: 'user' },
      ],
    },
  })
})
after(async () => {
  await stack.stop()
  target.closeAllConnections()
  await new Promise((resolve) => target.close(resolve))
})

describe('step-up', () => {
  test('a target\'s insufficient_user_authentication challenge is 401 step_up_required with the loginUrl it asks for; the target\'s body is not passed on', async () => {
    const { client } = await stack.login()
    const response = await client.request(`${stack.cloakroom.url}/api/strong`, { headers: CSRF })
    assert.equal(response.status, 401)
    assert.equal(response.headers.get('content-type'), 'application/problem+json')
    const text = await response.text()
    assert.doesNotMatch(text, /secret-body/)
    const problem = JSON.parse(text) as { code: string; loginUrl: string }
    assert.equal(problem.code, 'step_up_required')
    assert.equal(problem.loginUrl, '/auth/login?acr_values=urn%3Acloakroom%3Amfa&max_age=60')
  })

  test('a route\'s maxAge: a session without a recent enough auth_time is step_up_required; its loginUrl leads through the IdP to a new session that passes, until it is too old again', async () => {
    const { client } = await stack.login()
    const cookieBefore = client.cookies(stack.cloakroom.url).get('cloakroom')
    const stepUp = async () => {
      const refused = await client.request(`${stack.cloakroom.url}/recent/x`, { headers: CSRF })
      assert.equal(refused.status, 401)
      const { code, loginUrl } = await refused.json() as { code: string; loginUrl: string }
      assert.deepEqual([code, loginUrl], ['step_up_required', '/auth/login?max_age=2'])
      return loginUrl
    }
    // This IdP puts auth_time in an ID token only when max_age was asked for: no auth_time, no pass.
    const loginUrl = await stepUp()
    assert.equal((await client.request(`${stack.cloakroom.url}/api/x`, { headers: CSRF })).status, 200, 'other routes still pass')
    const { hops } = await client.follow(`${stack.cloakroom.url}${loginUrl}&returnTo=${encodeURIComponent('/recent/x')}`)
    assert.ok(hops.some((hop) => JSON.stringify(hop).includes('max_age=2')), 'the issuer was asked for max_age')
    assert.notEqual(client.cookies(stack.cloakroom.url).get('cloakroom'), cookieBefore, 'the new login replaced the session')
    assert.equal((await client.request(`${stack.cloakroom.url}/recent/x`, { headers: CSRF })).status, 200)
    const user = await (await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })).json() as { claims: { auth_time: number } }
    assert.ok(Date.now() / 1000 - user.claims.auth_time < 3, 'auth_time is among the claims, and recent')
    await sleep(3100)
    await stepUp()
  })

  test('a route\'s acrValues: a password sign-in is step_up_required; its loginUrl asks the IdP for the second factor, and the new session passes', async () => {
    const { client } = await stack.login()
    const user = async () => (await (await client.request(`${stack.cloakroom.url}/auth/user`, { headers: CSRF })).json()) as { claims: { acr?: string } }
    assert.notEqual((await user()).claims.acr, ACR_MFA)
    const refused = await client.request(`${stack.cloakroom.url}/payments/transfer`, { method: 'POST', headers: CSRF })
    assert.equal(refused.status, 401)
    const { code, loginUrl } = await refused.json() as { code: string; loginUrl: string }
    assert.deepEqual([code, loginUrl], ['step_up_required', `/auth/login?acr_values=${encodeURIComponent(ACR_MFA)}`])
    await client.follow(`${stack.cloakroom.url}${loginUrl}&returnTo=${encodeURIComponent('/')}`)
    const stronger = await user()
    assert.equal(stronger.claims.acr, ACR_MFA, 'acr is among /auth/user\'s claims')
    assert.equal((await client.request(`${stack.cloakroom.url}/payments/transfer`, { method: 'POST', headers: CSRF })).status, 200)
  })

  test('/auth/login refuses a prompt, acr_values or max_age it cannot pass on', async () => {
    for (const query of ['prompt=none', 'prompt=', 'acr_values=a%20%20b', 'acr_values=%22x%22', 'max_age=-1', 'max_age=1.5', 'max_age=x']) {
      const response = await createCookieClient().request(`${stack.cloakroom.url}/auth/login?${query}`)
      assert.equal(response.status, 400, query)
    }
    const fine = await createCookieClient().request(`${stack.cloakroom.url}/auth/login?prompt=login&acr_values=urn%3Aa%20urn%3Ab&max_age=0`)
    assert.equal(fine.status, 302)
    const asked = stack.idp.authorizationParams(fine.headers.get('location') ?? '')
    assert.deepEqual([asked.get('prompt'), asked.get('acr_values'), asked.get('max_age')], ['login', 'urn:a urn:b', '0'])
  })
})
