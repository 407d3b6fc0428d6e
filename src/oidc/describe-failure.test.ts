import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ClientError } from 'openid-client'
import { describeIdpFailure } from './describe-failure.ts'

const networkError = (code: string, message = `connect ${code} 127.0.0.1:1`) => new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }) })

test('a fetch failure names its network cause, not "fetch failed"', () => {
  assert.equal(describeIdpFailure(networkError('ECONNREFUSED')), 'connection refused (ECONNREFUSED)')
  assert.equal(describeIdpFailure(networkError('ENOTFOUND')), 'host not found (ENOTFOUND)')
  // Every address of a name refused: an AggregateError with a code and no message.
  assert.equal(describeIdpFailure(new TypeError('fetch failed', { cause: Object.assign(new AggregateError([]), { code: 'ECONNREFUSED' }) })), 'connection refused (ECONNREFUSED)')
  assert.equal(describeIdpFailure(networkError('CERT_HAS_EXPIRED', 'certificate has expired')), 'certificate has expired (CERT_HAS_EXPIRED)')
})

test('a timeout names the key that sets it; an HTTP failure its status', () => {
  assert.equal(describeIdpFailure(Object.assign(new ClientError('operation timed out'), { code: 'OAUTH_TIMEOUT' })), 'no answer within timeouts.idp')
  assert.equal(describeIdpFailure(new ClientError('unexpected HTTP response status code', { cause: new Response('', { status: 404 }) })), 'HTTP 404')
  assert.equal(describeIdpFailure(new ClientError('unexpected response content-type', { cause: new Response('', { status: 200 }) })), 'unexpected response content-type (HTTP 200)')
  assert.equal(describeIdpFailure(new Error('the issuer does not support PKCE S256')), 'the issuer does not support PKCE S256')
})

test('an issuer that differs from its discovery document (a trailing slash) is named as the document spells it', () => {
  const mismatch = Object.assign(new ClientError('discovered metadata issuer does not match the expected issuer', {
    cause: { expected: 'https://idp.example/realm', body: { issuer: 'https://idp.example/realm/' }, attribute: 'issuer' },
  }), { code: 'OAUTH_JSON_ATTRIBUTE_COMPARISON' })
  assert.equal(describeIdpFailure(mismatch), 'the document names the issuer "https://idp.example/realm/": oidc.issuer must be exactly that')
})
