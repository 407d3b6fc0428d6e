import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { RouteConfig } from '../config/index.ts'
import { hasDotSegments, matchRoute, upstreamPath } from './match-route.ts'

const route = (path: string, extra: Partial<RouteConfig> = {}): RouteConfig =>
  ({ path, target: 'http://127.0.0.1:7000', static: undefined, token: 'user', stripPath: false, csrf: true, ...extra })

const routes = [route('/api/v2'), route('/api'), route('/')]

const matches: ReadonlyArray<[string, string]> = [
  ['/api', '/api'], ['/api/', '/api'], ['/api/x/y', '/api'], ['/apix', '/'], ['/api-docs', '/'],
  ['/api/v2', '/api/v2'], ['/api/v2/x', '/api/v2'], ['/api/v20', '/api'], ['/', '/'], ['/other', '/'],
]
for (const [path, expected] of matches) {
  test(`${path} matches the ${expected} route`, () => assert.equal(matchRoute(routes, path)?.path, expected))
}

test('no route matches when there is no root route', () => {
  assert.equal(matchRoute([route('/api')], '/apix'), undefined)
  assert.equal(matchRoute([route('/api')], '/'), undefined)
})

test('first match wins, in config order', () => {
  const ordered = [route('/api', { token: 'none' }), route('/api/v2')]
  assert.equal(matchRoute(ordered, '/api/v2/x')?.token, 'none')
})

const stripped: ReadonlyArray<[boolean, string, string, string]> = [
  [false, '/api', '/api/x?y=1', '/api/x?y=1'],
  [true, '/api', '/api/x?y=1', '/x?y=1'],
  [true, '/api', '/api', '/'],
  [true, '/api', '/api?y=1', '/?y=1'],
  [true, '/', '/x', '/x'],
]
for (const [stripPath, prefix, url, expected] of stripped) {
  test(`stripPath ${stripPath}: ${url} on ${prefix} → ${expected}`, () => {
    assert.equal(upstreamPath(route(prefix, { stripPath }), url), expected)
  })
}

test('dot segments are detected plain, encoded and with backslashes', () => {
  for (const path of ['/api/../x', '/api/./x', '/api/%2e%2e/x', '/api/%2E/x', '/..', '/api/x/..%2fy', '/api\\..\\x', '/%', '/api/%zz',
    '/api/..;/admin', '/api/..%3b/admin', '/api/.;x/admin', '/api/..;jsessionid=1/x']) {
    assert.equal(hasDotSegments(path), true, path)
  }
  for (const path of ['/', '/api', '/api/x.y', '/api/..x', '/api/x..', '/api/.well-known', '/api/x;v=1', '/api/...;x']) {
    assert.equal(hasDotSegments(path), false, path)
  }
})
