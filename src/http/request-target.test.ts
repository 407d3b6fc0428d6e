import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import fc from 'fast-check'
// The very code http-proxy-3 runs to build the request line it sends to a target.
import { setupOutgoing } from 'http-proxy-3/dist/lib/http-proxy/common.js'
import type { RouteConfig } from '../config/index.ts'
import { CloakroomError } from '../errors.ts'
import { matchRoute, upstreamPath } from '../proxy/index.ts'
import { requestPath } from './authorize-route.ts'

const route = (path: string, target: string, stripPath: boolean, token: RouteConfig['token']): RouteConfig =>
  ({ path, target, static: undefined, token, stripPath, csrf: true, acrValues: undefined, maxAge: undefined, resource: undefined })

// Targets with distinct base paths, so the path a target receives names the route that sent it.
const routes = [
  route('/api', 'http://127.0.0.1:7000/api-base', false, 'user'),
  route('/public', 'http://127.0.0.1:7000/public-base', true, 'none'),
  route('/', 'http://127.0.0.1:7000/root-base', false, 'none'),
]

/** What http-proxy-3 puts in the request line to the route's target for this (already routed) request target. */
function sentToTarget(chosen: RouteConfig, url: string): string {
  const req = { url: upstreamPath(chosen, url), method: 'GET', headers: { host: 'cloakroom.invalid' }, httpVersionMajor: 1 }
  const options = { target: new URL(chosen.target ?? ''), changeOrigin: true, prependPath: true }
  return setupOutgoing({} as never, options as never, req as unknown as IncomingMessage).path ?? ''
}

/** requestPath's answer, or "refused" for a bad_request; anything else it throws fails the test. */
function outcome(url: string): string | { refused: true } {
  try {
    return requestPath(url)
  } catch (error) {
    assert.ok(error instanceof CloakroomError && error.code === 'bad_request', `${JSON.stringify(url)}: ${String(error)}`)
    return { refused: true }
  }
}

/**
 * The property of SPEC "API routes": the path the target receives is the path that was checked.
 * A lone "?" (an empty query) is the one difference allowed: the target gets the same path without it.
 */
function assertReadsTheSame(url: string): void {
  const path = outcome(url)
  if (typeof path !== 'string') return
  const query = url.indexOf('?')
  assert.equal(path, query === -1 ? url : url.slice(0, query), 'the path is the target up to its query')
  const canonical = url.endsWith('?') && query === url.length - 1 ? url.slice(0, -1) : url
  const parsed = new URL(url, 'http://cloakroom.invalid')
  assert.equal(parsed.host, 'cloakroom.invalid')
  assert.equal(parsed.pathname + parsed.search, canonical, 'URL parsing gives back the raw target')
  const chosen = matchRoute(routes, path)
  assert.ok(chosen !== undefined)
  assert.equal(matchRoute(routes, parsed.pathname), chosen, 'the route of the parsed path is the route of the checked path')
  const base = new URL(chosen.target ?? '').pathname
  assert.equal(sentToTarget(chosen, url), base + upstreamPath(chosen, canonical), 'the target receives the checked path under its base')
}

const refused = [
  '/\\x/admin', '/\\\\x/admin', '/api\\..\\x', '/public/\\x/admin', '/a\\b', '/a?b\\c',
  '/a#b', '/a?b#c', '/#', '/a b', '/a\tb', '/a\nb', '/a\u0000b', '/a\u007fb', '/caf\u00e9', '/a"b', '/a<b>', '/a{b}', '/a^b', '/a`b',
  '/a?q="x"', "/a?q='x'", '/api/%2e%2e/x', '/api/%2E/x', '/api/../x', '/api/.', '/x/..', '/.',
  'http://evil.example/api/x', 'evil.example:443', '//evil.example/api', '*', '', 'api',
]
for (const url of refused) {
  test(`the request target ${JSON.stringify(url)} is a bad request`, () => {
    assert.throws(() => requestPath(url), { code: 'bad_request' })
  })
}

const kept: ReadonlyArray<[string, string]> = [
  ['/', '/'], ['/api/x?y=1', '/api/x'], ['/api/x?y=1&z=%2F', '/api/x'], ['/a%20b', '/a%20b'], ['/caf%C3%A9', '/caf%C3%A9'],
  ['/api/%zz', '/api/%zz'], ['/api//x', '/api//x'], ['/public//x/admin', '/public//x/admin'], ['/a;b=c', '/a;b=c'],
  ['/a?', '/a'], ['/a|b[c]', '/a|b[c]'], ['/api/..;/admin', '/api/..;/admin'], ['/a?b?c', '/a'],
]
for (const [url, path] of kept) {
  test(`the request target ${JSON.stringify(url)} has the path ${JSON.stringify(path)}`, () => {
    assert.equal(requestPath(url), path)
    assertReadsTheSame(url)
  })
}

const pieces = fc.constantFrom(
  '/', '/', '/', '\\', '?', '#', '%', '.', '..', ';', '%2e', '%2E', '%2f', '%5c', '%25', '%00', '%zz', 'api', 'public', 'x', 'admin',
  ' ', '\t', '\n', '\r', '\u0000', '\u001f', '\u007f', '\u00a0', '\u00e9', '"', "'", '<', '>', '^', '`', '{', '}', '|', '@', ':', '//',
  // Everything the plain-target shortcut (no URL parse) lets through.
  '!', '$', '&', '(', ')', '*', '+', ',', '=', '~', '-', '_', 'v1.0', '.json', '..;', '?a=/../b', '?q=%2e',
)
const targets = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 40 }).map((text) => `/${text}`),
  fc.array(pieces, { maxLength: 14 }).map((parts) => parts.join('')),
  fc.array(pieces, { maxLength: 14 }).map((parts) => `/${parts.join('')}`),
)

test('any request target is refused or reaches the target as exactly the path that was checked', () => {
  fc.assert(fc.property(targets, (url) => assertReadsTheSame(url)), { numRuns: 20_000 })
})
