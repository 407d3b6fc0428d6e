import { test } from 'node:test'
import assert from 'node:assert/strict'
import { CloakroomError, type ErrorCode } from '../../errors.ts'
import { describeCause, problemFor } from './problem.ts'

const expected: ReadonlyArray<[ErrorCode, number]> = [
  ['unauthenticated', 401], ['session_expired', 401], ['csrf_required', 403], ['origin_mismatch', 403],
  ['bad_request', 400], ['not_found', 404], ['idp_unavailable', 503], ['store_unavailable', 503],
  ['upstream_unavailable', 502], ['rate_limited', 429],
]
for (const [code, status] of expected) {
  test(`${code} → ${status} problem+json`, () => {
    const problem = problemFor(new CloakroomError(code, 'what happened'))
    assert.equal(problem.status, status)
    assert.equal(problem.headers['content-type'], 'application/problem+json')
    const body = JSON.parse(problem.body) as Record<string, unknown>
    assert.equal(body['type'], 'about:blank')
    assert.equal(body['status'], status)
    assert.equal(body['code'], code)
    assert.equal(typeof body['title'], 'string')
  })
}

test('an error may carry its own status (504 for an upstream timeout) and Retry-After', () => {
  assert.equal(problemFor(new CloakroomError('upstream_unavailable', 'slow', { status: 504 })).status, 504)
  assert.equal(problemFor(new CloakroomError('rate_limited', 'slow down', { retryAfter: 17 })).headers['retry-after'], '17')
})

test('anything else is a bare 500: no message, no stack, no cause', () => {
  const problem = problemFor(new Error('secret detail at /srv/app.js:12'))
  assert.equal(problem.status, 500)
  assert.deepEqual(JSON.parse(problem.body), { type: 'about:blank', title: 'Internal Server Error', status: 500 })
})

test('Koa client errors (a malformed URL) become bad_request, a Koa 404 not_found', () => {
  assert.equal(JSON.parse(problemFor(Object.assign(new Error('URI malformed'), { status: 400 })).body).code, 'bad_request')
  assert.equal(JSON.parse(problemFor(Object.assign(new Error('x'), { status: 404 })).body).code, 'not_found')
})

test('a logged cause names the causes behind it, a few levels deep, and nothing that is not an error', () => {
  const deepest = Object.assign(new Error('unexpected "iss" (issuer) response parameter value'), { code: 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED' })
  const middle = Object.assign(new Error('invalid response encountered', { cause: deepest }), { name: 'ClientError', code: 'OAUTH_INVALID_RESPONSE' })
  assert.equal(describeCause(middle), 'ClientError OAUTH_INVALID_RESPONSE: invalid response encountered ← Error OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED: unexpected "iss" (issuer) response parameter value')
  const looped: Error = new Error('a')
  Object.assign(looped, { cause: looped })
  assert.equal(describeCause(looped).split(' ← ').length, 3, 'bounded, even for a cycle')
  assert.equal(describeCause(new Error('top', { cause: new Response('secret body') })), 'Error: top')
})
