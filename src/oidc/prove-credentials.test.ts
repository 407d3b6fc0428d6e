import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createOidcClient } from './client.ts'
import { CLIENT_SECRET, fakeIssuer, fakeIssuerConfig, oauthError } from './fake-issuer.ts'
import type { CredentialsProof } from './prove-credentials.ts'

async function prove(token: Parameters<typeof fakeIssuer>[0], oidc: Record<string, unknown> = {}): Promise<CredentialsProof> {
  const { fetch } = fakeIssuer(token)
  const client = await createOidcClient({ config: fakeIssuerConfig(oidc), now: Date.now, fetch })
  return client.proveCredentials()
}

const REFUSED = 'the issuer refused client "unit-client" (invalid_client): check oidc.clientId, oidc.clientSecret and oidc.tokenEndpointAuthMethod (client_secret_basic)'

test('credentials the token endpoint authenticates are accepted: it refuses only the made-up code (invalid_grant)', async () => {
  const { fetch, requests } = fakeIssuer(() => oauthError(400, { error: 'invalid_grant' }))
  const client = await createOidcClient({ config: fakeIssuerConfig(), now: Date.now, fetch })
  assert.deepEqual(await client.proveCredentials(), { verdict: 'accepted' })
  const [request] = requests
  assert.ok(request)
  assert.equal(request.body.get('grant_type'), 'authorization_code')
  assert.equal(request.body.get('redirect_uri'), 'http://127.0.0.1:8080/auth/callback')
  assert.match(request.body.get('code') ?? '', /^cloakroom-check-/)
  assert.match(request.body.get('code_verifier') ?? '', /^[\w-]{43,128}$/)
  // client_secret_basic by default, as configured (openid-client's own default is client_secret_post).
  const [id, secret] = Buffer.from(request.authorization?.replace(/^Basic /, '') ?? '', 'base64').toString().split(':').map(decodeURIComponent)
  assert.deepEqual([id, secret], ['unit-client', CLIENT_SECRET])
})

test('a wrong secret is refused, naming the keys to check, however the issuer says invalid_client', async () => {
  const answers = [
    () => oauthError(401, undefined, 'Basic realm="idp", error="invalid_client", error_description="client authentication failed"'),
    () => oauthError(401, { error: 'invalid_client' }),
    () => oauthError(400, { error: 'invalid_client', error_description: 'bad secret' }),
    // RFC 6749 §5.2: a 401 challenge without an error code is a refused client too.
    () => oauthError(401, undefined, 'Basic realm="idp"'),
  ]
  for (const answer of answers) assert.deepEqual(await prove(answer), { verdict: 'refused', detail: REFUSED })
})

test('the key named follows the authentication method', async () => {
  const proof = await prove(() => oauthError(401, { error: 'invalid_client' }), { tokenEndpointAuthMethod: 'client_secret_post' })
  assert.equal(proof.verdict === 'refused' && proof.detail, 'the issuer refused client "unit-client" (invalid_client): check oidc.clientId, oidc.clientSecret and oidc.tokenEndpointAuthMethod (client_secret_post)')
  const none = await prove(() => oauthError(401, { error: 'invalid_client' }), { tokenEndpointAuthMethod: 'none', clientSecret: null })
  assert.equal(none.verdict === 'refused' && none.detail, 'the issuer refused client "unit-client" (invalid_client): check oidc.clientId and oidc.tokenEndpointAuthMethod (none)')
})

test('a client that may not redeem codes is refused; an answer that proves nothing is unproven', async () => {
  assert.deepEqual(await prove(() => oauthError(400, { error: 'unauthorized_client' })), {
    verdict: 'refused',
    detail: 'the issuer does not let client "unit-client" redeem authorization codes (unauthorized_client): check its registration at the issuer',
  })
  assert.deepEqual(await prove(() => oauthError(400, { error: 'invalid_request' })), {
    verdict: 'unproven',
    detail: 'the token endpoint answered invalid_request (HTTP 400) to a made-up code, where invalid_grant was expected',
  })
})

test('an unreachable or failing token endpoint is unavailable, with the cause', async () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4000'), { code: 'ECONNREFUSED' })
  assert.deepEqual(await prove(() => { throw new TypeError('fetch failed', { cause: refused }) }), { verdict: 'unavailable', detail: 'connection refused (ECONNREFUSED)' })
  assert.deepEqual(await prove(() => oauthError(503, { error: 'temporarily_unavailable' })), { verdict: 'unavailable', detail: 'HTTP 503' })
})

test('the secret is never part of a verdict', async () => {
  const proof = await prove(() => oauthError(401, { error: 'invalid_client', error_description: 'nope' }))
  assert.ok(!JSON.stringify(proof).includes(CLIENT_SECRET))
})
