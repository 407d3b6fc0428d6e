import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CloakroomError } from '../errors.ts'
import { createOidcClient, isLoopbackHttp, jwtExpiry } from './client.ts'
import { CLIENT_SECRET, fakeIssuer, fakeIssuerConfig, oauthError } from './fake-issuer.ts'

test('the expiry of a JWT access token, for issuers that send no expires_in', () => {
  const jwt = (payload: unknown) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`
  assert.equal(jwtExpiry(jwt({ exp: 1700000000 })), 1700000000)
  for (const token of [jwt({}), jwt({ exp: 'soon' }), 'opaque-token', 'a.b', 'a.%%%.c', jwt([1])]) {
    assert.equal(jwtExpiry(token), undefined, token)
  }
})

test('plain http is allowed only for an issuer on a loopback address', () => {
  for (const url of ['http://localhost:9090', 'http://127.0.0.1/x', 'http://[::1]:8080']) assert.equal(isLoopbackHttp(new URL(url)), true, url)
  for (const url of ['https://localhost', 'http://idp.example.com', 'http://127.0.0.2', 'http://localhost.evil.example']) assert.equal(isLoopbackHttp(new URL(url)), false, url)
})

const REFUSED = 'ClientRefused: the issuer refused client "unit-client" (invalid_client): check oidc.clientId, oidc.clientSecret and oidc.tokenEndpointAuthMethod (client_secret_basic)'
const describe = (error: unknown) => error instanceof Error ? `${error.name}: ${error.message}` : String(error)
const challenge = () => oauthError(401, undefined, 'Basic realm="idp", error="invalid_client", error_description="client authentication failed"')

test('a code exchange refused with invalid_client is logged as a refused client, naming the keys; the browser sees "Login failed (invalid_client)"', async () => {
  const { fetch } = fakeIssuer(challenge)
  const client = await createOidcClient({ config: fakeIssuerConfig(), now: Date.now, fetch })
  const callback = new URL('http://127.0.0.1:8080/auth/callback?code=the-code&state=the-state')
  const error = await client.exchangeCode(callback, { state: 'the-state', nonce: 'the-nonce', codeVerifier: 'v'.repeat(43) }).then(() => undefined, (e: unknown) => e)
  assert.ok(error instanceof CloakroomError)
  assert.equal(error.code, 'bad_request')
  assert.equal(error.message, 'Login failed (invalid_client)')
  assert.equal(describe(error.cause), REFUSED)
  assert.ok(!JSON.stringify(error.message + describe(error.cause)).includes(CLIENT_SECRET))
})

test('a refresh refused with invalid_client keeps the session (idp_unavailable) and is logged as a refused client', async () => {
  const { fetch } = fakeIssuer(() => oauthError(401, { error: 'invalid_client' }))
  const client = await createOidcClient({ config: fakeIssuerConfig(), now: Date.now, fetch })
  const error = await client.refresh({ refreshToken: 'rt', expectedSub: 'alice' }).then(() => undefined, (e: unknown) => e)
  assert.ok(error instanceof CloakroomError)
  assert.equal(error.code, 'idp_unavailable')
  assert.equal(error.message, 'The identity provider is unavailable')
  assert.equal(describe(error.cause), REFUSED)
})

test('a failed discovery names the discovery URL and the network cause (for the startup warning and check)', async () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4000'), { code: 'ECONNREFUSED' })
  const client = await createOidcClient({ config: fakeIssuerConfig(), now: Date.now, fetch: () => Promise.reject(new TypeError('fetch failed', { cause: refused })) })
  const error = await client.discover().then(() => undefined, (e: unknown) => e)
  assert.ok(error instanceof CloakroomError)
  assert.equal(error.code, 'idp_unavailable')
  assert.equal(error.message, 'The identity provider is unavailable')
  assert.equal(describe(error.cause), 'DiscoveryFailed: http://127.0.0.1:4000/.well-known/openid-configuration: connection refused (ECONNREFUSED)')
})

test('a login\'s own prompt, acr_values and max_age (a step-up) win over the ones in oidc.authorizationParams', async () => {
  const { fetch } = fakeIssuer(() => oauthError(400, { error: 'invalid_grant' }))
  const configured = { authorizationParams: { acr_values: 'urn:low', prompt: 'consent', max_age: '3600', audience: 'api' } }
  const client = await createOidcClient({ config: fakeIssuerConfig(configured), now: Date.now, fetch })
  const request = { state: 's', nonce: 'n', codeVerifier: 'v'.repeat(43) }
  const stepUp = (await client.authorizationUrl({ ...request, prompt: 'login', acrValues: 'urn:mfa', maxAge: 60 })).searchParams
  assert.deepEqual([stepUp.get('acr_values'), stepUp.get('prompt'), stepUp.get('max_age'), stepUp.get('audience')], ['urn:mfa', 'login', '60', 'api'])
  const plain = (await client.authorizationUrl(request)).searchParams
  assert.deepEqual([plain.get('acr_values'), plain.get('prompt'), plain.get('max_age')], ['urn:low', 'consent', '3600'])
})
