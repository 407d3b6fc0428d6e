import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ClientError, ResponseBodyError } from 'openid-client'
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
