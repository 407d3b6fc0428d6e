import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { RouteConfig } from '../config/index.ts'
import { hasDotSegments, matchRoute, routeShiftsWhenDecoded, upstreamPath } from './match-route.ts'

const route = (path: string, extra: Partial<RouteConfig> = {}): RouteConfig =>
  ({ path, target: 'http://127.0.0.1:7000', static: undefined, token: 'user', stripPath: false, csrf: true, acrValues: undefined, maxAge: undefined, resource: undefined, ...extra })

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

const PREFIXES = ['/', '/a', '/a/b', '/ab', '/a/b/c', '/b', '/a-b']
const routeLists = fc.uniqueArray(fc.constantFrom(...PREFIXES), { minLength: 1, maxLength: 5 })
  .chain((prefixes) => fc.tuple(...prefixes.map((prefix) => fc.boolean().map((stripPath) => route(prefix, { stripPath })))))
const segmentPieces = fc.constantFrom('a', 'b', 'c', 'ab', '-', '.', '..', '%2e', '%2E%2e', '%2f', '%5c', '\\', ';', ';x', '%3b', '%25', '%', 'x.y')
const paths = fc.array(fc.oneof(fc.constant('/'), segmentPieces), { maxLength: 10 }).map((parts) => `/${parts.join('')}`)
const queries = fc.oneof(fc.constant(''), fc.constantFrom('?', '?q=1', '?a/../b', '?/%2e%2e/'))

test('property: the first route in config order whose prefix matches on a segment boundary', () => {
  fc.assert(fc.property(routeLists, paths, (list, path) => {
    const matched = matchRoute(list, path)
    const index = matched === undefined ? list.length : list.indexOf(matched)
    const onBoundary = (prefix: string) => prefix === '/' || path === prefix || path.startsWith(`${prefix}/`)
    assert.ok(list.slice(0, index).every((earlier) => !onBoundary(earlier.path)), 'no earlier route matches')
    if (matched !== undefined) assert.ok(onBoundary(matched.path), `${matched.path} matches ${path} on a segment boundary`)
    else assert.ok(list.every((r) => !onBoundary(r.path)))
  }), { numRuns: 5_000 })
})

test('property: stripPath removes exactly the route prefix and keeps the query as it came', () => {
  fc.assert(fc.property(routeLists, paths, queries, (list, path, query) => {
    const matched = matchRoute(list, path)
    if (matched === undefined) return
    const forwarded = upstreamPath(matched, path + query)
    if (!matched.stripPath || matched.path === '/') {
      assert.equal(forwarded, path + query)
      return
    }
    assert.ok(forwarded.startsWith('/') && forwarded.endsWith(query), forwarded)
    const rest = path.slice(matched.path.length)
    assert.equal(forwarded, `${rest.startsWith('/') ? rest : `/${rest}`}${query}`)
  }), { numRuns: 5_000 })
})

// What a target that decodes and normalises the path does (Tomcat, Spring, a file server): one round of
// percent-decoding, "\" read as "/", path parameters dropped, then "." and ".." resolved.
function normalisedByTarget(path: string): string {
  const segments = decodeURIComponent(path).split(/[/\\]/).map((segment) => segment.split(';', 1)[0] ?? '')
  const kept: string[] = []
  for (const segment of segments.slice(1)) {
    if (segment === '..') kept.pop()
    else if (segment !== '.') kept.push(segment)
  }
  return `/${kept.join('/')}`
}

test('property: a path without dot segments cannot leave its route or its base path at the target', () => {
  fc.assert(fc.property(routeLists, paths, (list, path) => {
    const matched = matchRoute(list, path)
    if (matched === undefined || hasDotSegments(path)) return
    const normalised = normalisedByTarget(path)
    assert.equal(normalised.split('/').length, decodeURIComponent(path).split(/[/\\]/).length, `${path} keeps its segments`)
    const base = '/base'
    assert.ok(normalisedByTarget(base + upstreamPath(matched, path)).startsWith(`${base}/`), `${path} stays under the target's base path`)
  }), { numRuns: 5_000 })
})

// Printable ASCII only: Node's HTTP parser refuses a request target with a control character, and
// requestPath refuses one that slipped through. (The WHATWG parser strips tabs, so "/a/.\t./x" would
// read as "/a/../x" there, while hasDotSegments sees the segment ".\t.".)
test('property: where hasDotSegments sees none, WHATWG URL parsing removes no segment either', () => {
  const printable = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)), maxLength: 30 })
  const mixed = fc.oneof(paths, printable.map((text) => `/${text}`))
  fc.assert(fc.property(mixed, (raw) => {
    const path = raw.split(/[?#]/, 1)[0] ?? '/'
    // "//x" and "/\x" are scheme-relative references to URL parsing; requestPath refuses them before any route check.
    if (/^\/[/\\]/.test(path) || hasDotSegments(path)) return
    const parsed = new URL(path, 'http://cloakroom.invalid').pathname
    assert.equal(parsed.split('/').length, path.split(/[/\\]/).length, `${path} → ${parsed}`)
  }), { numRuns: 10_000 })
})

test('a path whose decoded form a target would route elsewhere is caught; encoded slashes inside one route are not', () => {
  const gated = [route('/api'), route('/', { token: 'none', csrf: false })]
  for (const path of ['/api%2Fx', '/api%2fx', '/api%5Cx', '/api%252Fx', '/api%25252fx']) assert.equal(routeShiftsWhenDecoded(gated, path), true, path)
  for (const path of ['/api/a%2Fb', '/docs/a%2Fb', '/x%2Fy', '/api/%25', '/plain']) assert.equal(routeShiftsWhenDecoded(gated, path), false, path)
  assert.equal(routeShiftsWhenDecoded(gated, '/api%2'), false, 'an undecodable path that never decodes to a slash keeps its route')
})

test('property: whenever a decoding of the path matches another route, the path is caught', () => {
  const gated = [route('/api'), route('/api/admin'), route('/', { token: 'none', csrf: false })]
  const piece = fc.constantFrom('/', '%2F', '%2f', '%5C', '%252F', 'api', 'admin', 'x', '%25', '%')
  fc.assert(fc.property(fc.array(piece, { maxLength: 8 }), (pieces) => {
    const path = `/${pieces.join('')}`
    const raw = matchRoute(gated, path)
    let decoded = path
    for (let round = 0; round < 3; round++) {
      try { decoded = decodeURIComponent(decoded) } catch { return }
      if (matchRoute(gated, decoded) !== raw) assert.equal(routeShiftsWhenDecoded(gated, path), true, path)
    }
  }), { numRuns: 5_000 })
})
