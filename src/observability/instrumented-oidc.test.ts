import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CloakroomError } from '../errors.ts'
import type { OidcClient } from '../oidc/index.ts'
import { instrumentOidc } from './instrumented-oidc.ts'

function fakeClient(failWith: () => unknown): OidcClient & { discovered: boolean } {
  const fail = async (): Promise<never> => { throw failWith() }
  const client = {
    discovered: false,
    get ready() { return client.discovered },
    discover: fail, proveCredentials: fail, authorizationUrl: fail, exchangeCode: fail,
    refresh: fail, revoke: fail, endSessionUrl: fail, validateLogoutToken: fail,
  }
  return client as unknown as OidcClient & { discovered: boolean }
}

test('an unreachable issuer is counted under the failed call\'s operation; the error passes on unchanged', async () => {
  const counted: string[] = []
  const unavailable = new CloakroomError('idp_unavailable', 'The identity provider is unavailable')
  const oidc = instrumentOidc(fakeClient(() => unavailable), { idpError: (operation) => counted.push(operation) })
  await assert.rejects(oidc.discover(), (error) => error === unavailable)
  await assert.rejects(oidc.exchangeCode(new URL('http://x/cb'), { state: 's', nonce: 'n', codeVerifier: 'v' }))
  await assert.rejects(oidc.refresh({ refreshToken: 'r', expectedSub: 's' }))
  await assert.rejects(oidc.revoke('t', 'refresh_token'))
  await assert.rejects(oidc.validateLogoutToken('t'))
  await assert.rejects(oidc.endSessionUrl(undefined))
  assert.deepEqual(counted, ['discovery', 'code_grant', 'refresh', 'revocation', 'jwks', 'end_session'])
})

test('a refusal that is the request\'s own fault (a spent refresh token, a bad code) is not an issuer error', async () => {
  const counted: string[] = []
  const oidc = instrumentOidc(fakeClient(() => new CloakroomError('session_expired', 'gone')), { idpError: (operation) => counted.push(operation) })
  await assert.rejects(oidc.refresh({ refreshToken: 'r', expectedSub: 's' }))
  await assert.rejects(oidc.exchangeCode(new URL('http://x/cb'), { state: 's', nonce: 'n', codeVerifier: 'v' }))
  assert.deepEqual(counted, [])
})

test('ready follows the client as discovery completes (it is read at each use, not copied once)', () => {
  const client = fakeClient(() => new Error('unused'))
  const oidc = instrumentOidc(client, { idpError: () => {} })
  assert.equal(oidc.ready, false)
  client.discovered = true
  assert.equal(oidc.ready, true)
})
