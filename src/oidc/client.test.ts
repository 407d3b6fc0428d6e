import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isLoopbackHttp, jwtExpiry } from './client.ts'

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
