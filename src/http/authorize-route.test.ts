import { test } from 'node:test'
import assert from 'node:assert/strict'
import { requestPath } from './authorize-route.ts'

test('the path of an origin-form target, undecoded, without query', () => {
  assert.equal(requestPath('/api/x?y=1'), '/api/x')
  assert.equal(requestPath('/api/caf%C3%A9'), '/api/caf%C3%A9')
  assert.equal(requestPath('/'), '/')
})

test('absolute-form, authority-form and scheme-relative targets are bad requests', () => {
  for (const url of ['http://evil.example/api/x', 'evil.example:443', '//evil.example/api', '*', '', '/api/x#f', '/api/%2e%2e/x']) {
    assert.throws(() => requestPath(url), { code: 'bad_request' }, url)
  }
})
