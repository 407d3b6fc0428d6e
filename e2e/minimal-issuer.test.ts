import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { runCli } from './fixtures/cloakroom.ts'
import { startStack, type Stack } from './fixtures/stack.ts'

// The LemonLDAP-style case (issue: "an issuer with none of these features must still work with all
// of them left at their defaults"): no PAR, no DPoP, no revocation, no end-session, no back-channel
// logout, no iss response parameter, no resource indicators asked for.

const CSRF = { 'x-csrf': '1' }

describe('an issuer with none of the optional features, Cloakroom on its defaults', () => {
  let stack: Stack
  before(async () => {
    stack = await startStack({
      logLevel: 'warn',
      accessTokenTtl: 3,
      config: { tokens: { refreshBefore: '1s' } },
      idp: { pushedAuthorizationRequests: false, dpop: false, revocation: false, endSession: false, backchannelLogout: false, issAuthResp: false },
    })
  })
  after(() => stack.stop())

  test('check passes (exit 0), saying what each missing feature means', async () => {
    const { code, stdout } = await runCli(['check', '--config', '{config}'], { ...stack.config, listen: { port: 0 } }, 20_000)
    assert.equal(code, 0, stdout)
    for (const line of [
      /^iss parameter: WARNING not advertised/m,
      /^revocation: WARNING no revocation endpoint: logout and ended sessions cannot revoke refresh tokens/m,
      /^end-session: WARNING no end_session_endpoint: logout ends Cloakroom's session only/m,
      /^back-channel logout: WARNING not supported/m,
      /^PAR: ok not offered: authorization parameters travel in the browser's URL$/m,
      /^DPoP: ok \(none advertised\); not used \(oidc\.dpop: false\): Bearer tokens$/m,
      /^resource indicators: ok not used \(no route has a resource\)$/m,
    ]) assert.match(stdout, line)
  })

  test('login (parameters in the URL), API calls with a Bearer token, a refresh, and logout all work', async () => {
    const { client, hops } = await stack.login('/')
    const authorize = new URL(hops[0]?.location ?? '')
    assert.equal(authorize.searchParams.has('request_uri'), false)
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256')
    const token = async () => ((await (await client.request(`${stack.cloakroom.url}/api/x`, { headers: CSRF })).json()) as { headers: Record<string, string> }).headers['authorization']
    const first = await token()
    assert.match(first ?? '', /^Bearer \S+$/)
    await new Promise((resolve) => setTimeout(resolve, 2200))
    const second = await token()
    assert.match(second ?? '', /^Bearer \S+$/)
    assert.notEqual(second, first, 'refreshed')
    const logout = await client.request(`${stack.cloakroom.url}/auth/logout`, { method: 'POST', headers: CSRF })
    assert.equal(logout.status, 200)
    assert.deepEqual(await logout.json(), { logoutUrl: null })
    assert.equal((await client.request(`${stack.cloakroom.url}/api/x`, { headers: CSRF })).status, 401)
  })
})
