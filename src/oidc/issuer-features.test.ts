import { test } from 'node:test'
import assert from 'node:assert/strict'
import { describeIssuer, type IssuerMetadata } from './issuer-features.ts'
import { fakeIssuerConfig } from './fake-issuer.ts'

const verdicts = (metadata: IssuerMetadata, oidc: Record<string, unknown> = {}, sections: Record<string, unknown> = {}) =>
  Object.fromEntries(describeIssuer(metadata, fakeIssuerConfig(oidc, sections)).map((finding) => [finding.feature, `${finding.verdict} ${finding.detail}`]))

const FULL: IssuerMetadata = {
  code_challenge_methods_supported: ['plain', 'S256'],
  authorization_response_iss_parameter_supported: true,
  revocation_endpoint: 'https://idp/revoke',
  end_session_endpoint: 'https://idp/logout',
  backchannel_logout_supported: true,
  backchannel_logout_session_supported: true,
  pushed_authorization_request_endpoint: 'https://idp/par',
  dpop_signing_alg_values_supported: ['ES256', 'EdDSA'],
  acr_values_supported: ['urn:pwd', 'urn:mfa'],
}

test('an issuer with every feature: all ok, each line saying what it means here', () => {
  const found = verdicts(FULL, { dpop: true }, { routes: [{ path: '/pay', target: 'http://127.0.0.1:1', acrValues: ['urn:mfa'] }] })
  assert.deepEqual(Object.keys(found), ['pkce', 'iss parameter', 'revocation', 'end-session', 'back-channel logout', 'PAR', 'DPoP', 'acr values'])
  for (const [feature, line] of Object.entries(found)) assert.match(line, /^ok /, feature)
  assert.equal(found['revocation'], 'ok https://idp/revoke: logout revokes the refresh token')
  assert.equal(found['PAR'], 'ok https://idp/par: the browser\'s redirect carries only client_id and request_uri')
  assert.equal(found['DPoP'], 'ok ES256 (of ES256, EdDSA): tokens bound to each session\'s key, targets get proofs')
  assert.equal(found['acr values'], 'ok urn:pwd, urn:mfa; routes ask for urn:mfa')
})

test('an issuer with none of them (LemonLDAP-style) works with the defaults: warnings, no failure', () => {
  const found = verdicts({})
  assert.deepEqual(Object.values(found).filter((line) => line.startsWith('FAILED')), [])
  assert.equal(found['revocation'], 'WARNING no revocation endpoint: logout and ended sessions cannot revoke refresh tokens, which stay valid at the issuer until they expire')
  assert.match(found['end-session'] ?? '', /^WARNING no end_session_endpoint: logout ends Cloakroom's session only/)
  assert.match(found['back-channel logout'] ?? '', /^WARNING not supported: a sign-out at the issuer does not reach Cloakroom/)
  assert.match(found['iss parameter'] ?? '', /^WARNING not advertised/)
  assert.equal(found['PAR'], 'ok not offered: authorization parameters travel in the browser\'s URL')
  assert.equal(found['DPoP'], 'ok (none advertised); not used (oidc.dpop: false): Bearer tokens')
})

test('what cannot work with this configuration fails', () => {
  assert.equal(verdicts({}, { pushedAuthorizationRequests: 'always' })['PAR'],
    'FAILED oidc.pushedAuthorizationRequests is always, but the issuer has no pushed_authorization_request_endpoint: logins cannot start')
  assert.match(verdicts({ ...FULL, require_pushed_authorization_requests: true }, { pushedAuthorizationRequests: 'never' })['PAR'] ?? '', /^FAILED the issuer requires pushed authorization requests/)
  assert.equal(verdicts({}, { dpop: true })['DPoP'], 'FAILED oidc.dpop is true, but the issuer advertises no DPoP algorithms (dpop_signing_alg_values_supported)')
  assert.match(verdicts({ dpop_signing_alg_values_supported: ['RS256'] }, { dpop: true })['DPoP'] ?? '', /^FAILED oidc.dpop is true, but the issuer takes RS256, not ES256/)
  assert.match(verdicts({ code_challenge_methods_supported: ['plain'] })['pkce'] ?? '', /^FAILED S256 is not among plain/)
})

test('a route asking for an acr the issuer does not advertise is a warning', () => {
  const found = verdicts(FULL, {}, { routes: [{ path: '/pay', target: 'http://127.0.0.1:1', acrValues: ['urn:hardware-key'] }] })
  assert.equal(found['acr values'], 'WARNING urn:hardware-key asked by a route\'s acrValues but not among urn:pwd, urn:mfa: step-up there may never succeed')
})
