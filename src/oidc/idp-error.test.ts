import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ClientError, ResponseBodyError, WWWAuthenticateChallengeError } from 'openid-client'
import { toIdpError } from './idp-error.ts'

function responseBodyError(status: number, error: string): ResponseBodyError {
  const response = new Response(JSON.stringify({ error }), { status })
  return Object.assign(Object.create(ResponseBodyError.prototype) as ResponseBodyError, { status, error, response, message: error })
}

test('network failures, timeouts and 5xx answers are idp_unavailable', () => {
  assert.equal(toIdpError(new TypeError('fetch failed'), 'Login').code, 'idp_unavailable')
  assert.equal(toIdpError(Object.assign(new ClientError('timed out'), { code: 'OAUTH_TIMEOUT' }), 'Login').code, 'idp_unavailable')
  assert.equal(toIdpError(responseBodyError(503, 'temporarily_unavailable'), 'Login').code, 'idp_unavailable')
  assert.equal(toIdpError(Object.assign(new ClientError('bad status'), { cause: new Response('', { status: 502 }) }), 'Login').code, 'idp_unavailable')
})

test('protocol failures are bad_request, naming the OAuth error code and no more', () => {
  const error = toIdpError(responseBodyError(400, 'invalid_grant'), 'Login')
  assert.equal(error.code, 'bad_request')
  assert.equal(error.message, 'Login failed (invalid_grant)')
  assert.equal(toIdpError(new ClientError('unexpected JWT claim value encountered'), 'Login').message, 'Login failed')
})

test('a refused client (invalid_client, in a body or only in a challenge) is named in the cause, for the log; the browser sees the code', () => {
  const challenge = Object.assign(Object.create(WWWAuthenticateChallengeError.prototype) as WWWAuthenticateChallengeError, {
    status: 401,
    message: 'server responded with a challenge in the WWW-Authenticate HTTP Header',
    cause: [{ scheme: 'basic', parameters: { realm: 'idp', error: 'invalid_client' } }],
  })
  const client = { clientId: 'spa-bff', tokenEndpointAuthMethod: 'client_secret_basic' } as const
  for (const refusal of [challenge, responseBodyError(401, 'invalid_client')]) {
    const error = toIdpError(refusal, 'Login', client)
    assert.equal(error.code, 'bad_request')
    assert.equal(error.message, 'Login failed (invalid_client)')
    assert.ok(error.cause instanceof Error)
    assert.equal(error.cause.message, 'the issuer refused client "spa-bff" (invalid_client): check oidc.clientId, oidc.clientSecret and oidc.tokenEndpointAuthMethod (client_secret_basic)')
    assert.equal(error.cause.cause, refusal)
  }
})
