import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CloakroomError } from '../errors.ts'
import { readAcrValues, readMaxAge, stepUpChallenge, stepUpLoginUrl, unmetStepUp } from './step-up.ts'

test('an insufficient_user_authentication challenge gives what it asks for; anything else is no step-up', () => {
  assert.deepEqual(stepUpChallenge('Bearer error="insufficient_user_authentication", acr_values="urn:a urn:b", max_age=300'), { acrValues: 'urn:a urn:b', maxAge: 300 })
  assert.deepEqual(stepUpChallenge('Bearer realm="x", error=insufficient_user_authentication, max_age="0"'), { maxAge: 0 })
  // A target of DPoP-bound tokens challenges with its own scheme (RFC 9449 §7.1).
  assert.deepEqual(stepUpChallenge('DPoP algs="ES256", error="insufficient_user_authentication", acr_values="urn:mfa"'), { acrValues: 'urn:mfa' })
  assert.deepEqual(stepUpChallenge(['Basic realm="x"', 'Bearer error="insufficient_user_authentication"']), {})
  assert.deepEqual(stepUpChallenge('Bearer error="insufficient_user_authentication", acr_values="a\\"b", max_age=-1'), {}, 'values that do not read cleanly are left out')
  for (const other of [undefined, 'Bearer error="invalid_token"', 'Bearer realm="x"', 'Basic error="insufficient_user_authentication"']) {
    assert.equal(stepUpChallenge(other), undefined, String(other))
  }
})

test('the loginUrl asks /auth/login for exactly the step-up', () => {
  assert.equal(stepUpLoginUrl({ acrValues: 'urn:a urn:b', maxAge: 60 }), '/auth/login?acr_values=urn%3Aa+urn%3Ab&max_age=60')
  assert.equal(stepUpLoginUrl({ maxAge: 0 }), '/auth/login?max_age=0')
})

test('a route\'s acrValues and maxAge against the session\'s claims', () => {
  const route = { acrValues: ['urn:mfa'], maxAge: undefined }
  assert.equal(unmetStepUp({ acr: 'urn:mfa' }, route, 1000), undefined)
  assert.ok(unmetStepUp({ acr: 'urn:pwd' }, route, 1000))
  assert.ok(unmetStepUp({}, route, 1000))
  const recent = { acrValues: undefined, maxAge: 60 }
  assert.equal(unmetStepUp({ auth_time: 940 }, recent, 1000), undefined)
  assert.ok(unmetStepUp({ auth_time: 939 }, recent, 1000))
  assert.ok(unmetStepUp({ auth_time: '999' }, recent, 1000), 'auth_time must be a number')
  assert.ok(unmetStepUp({}, recent, 1000), 'no auth_time: not known to be recent')
})

test('login parameters: well-formed ones pass, others are bad_request', () => {
  assert.equal(readAcrValues('urn:a urn:b'), 'urn:a urn:b')
  assert.equal(readMaxAge('0'), 0)
  assert.equal(readAcrValues(undefined), undefined)
  for (const bad of ['', ' a', 'a  b', 'a"b', ['a'], 'x'.repeat(513)]) assert.throws(() => readAcrValues(bad), (e: unknown) => e instanceof CloakroomError && e.code === 'bad_request')
  for (const bad of ['', '-1', '1.5', '01', '1e3', '9999999999', ['1']]) assert.throws(() => readMaxAge(bad), (e: unknown) => e instanceof CloakroomError && e.code === 'bad_request')
})
