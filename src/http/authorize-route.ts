import type { IncomingHttpHeaders } from 'node:http'
import type { RouteConfig } from '../config/index.ts'
import { CloakroomError } from '../errors.ts'
import { hasDotSegments, matchRoute, routeShiftsWhenDecoded } from '../proxy/index.ts'
import type { SessionRecord } from '../store/index.ts'
import type { Deps } from './deps.ts'
import { checkCsrf, checkOrigin, type CsrfOptions } from './middleware/csrf.ts'
import { parseRequestTarget } from './request-target.ts'
import { stepUpRequired, unmetStepUp } from '../session/step-up.ts'

export interface RouteRequest {
  /** The request target as received (`req.url`). */
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly kind: 'http' | 'websocket'
}

export interface AuthorizedRoute {
  readonly route: RouteConfig
  /** The session, its tokens fresh and its idle timeout slid; undefined for anonymous requests. */
  readonly session: SessionRecord | undefined
}

/**
 * The one gate in front of every configured route, for HTTP requests and WebSocket upgrades alike:
 * routeFor, then authorize.
 */
export async function authorizeRoute(request: RouteRequest, deps: Deps, csrf: CsrfOptions): Promise<AuthorizedRoute> {
  const { route } = routeFor(request.url, deps.config.routes, request.kind)
  return { route, session: await authorize(route, request, deps, csrf) }
}

/** The route a request target is for, and its path: a routable path (SPEC "API routes"), else not_found or bad_request. */
export function routeFor(url: string, routes: readonly RouteConfig[], kind: RouteRequest['kind']): { route: RouteConfig; path: string } {
  const path = requestPath(url)
  if (path === '/auth' || path.startsWith('/auth/')) throw new CloakroomError('not_found', 'No such endpoint')
  const route = matchRoute(routes, path)
  if (route === undefined || (kind === 'websocket' && route.target === undefined)) {
    throw new CloakroomError('not_found', 'No route matches this path')
  }
  if (hasDotSegments(path)) throw new CloakroomError('bad_request', 'Dot segments are not allowed in paths')
  if (routeShiftsWhenDecoded(routes, path)) throw new CloakroomError('bad_request', 'An encoded slash may not move a path to another route')
  return { route, path }
}

/**
 * The checks of a matched route, in order (SPEC "API routes"): the session its token mode calls for,
 * the CSRF header (HTTP) or a same-origin Origin (WebSocket, which cannot carry the header), the
 * route's step-up (`acrValues`, `maxAge`), then the token refresh. Only a request that passed every check counts as activity for the idle timeout.
 * Resolves to the session, its tokens fresh and its idle timeout slid; undefined for anonymous requests.
 */
export async function authorize(route: RouteConfig, request: RouteRequest, deps: Deps, csrf: CsrfOptions): Promise<SessionRecord | undefined> {
  const session = route.token === 'none' ? undefined : await deps.sessions.fromCookie(request.headers.cookie)
  if (route.token === 'user' && session === undefined) throw new CloakroomError('unauthenticated', 'No valid session')
  if (request.kind === 'http') {
    if (route.csrf) checkCsrf(request.headers, csrf)
  } else if (route.csrf || route.token !== 'none') {
    // Unlike an HTTP response, a WebSocket is readable cross-site: a handshake that may carry the
    // session needs a same-origin Origin even where the route turned the CSRF header off.
    checkOrigin(request.headers, csrf, true)
  }
  if (session === undefined) return undefined
  if (route.acrValues !== undefined || route.maxAge !== undefined) {
    const unmet = unmetStepUp(session.claims, route, Math.floor(deps.now() / 1000))
    if (unmet !== undefined) throw stepUpRequired({ acrValues: route.acrValues?.join(' '), maxAge: route.maxAge }, unmet)
  }
  return deps.sessions.touch(await deps.refresher.fresh(session, route.resource))
}

/**
 * The path of an origin-form request target ("/a/b?c"), undecoded. Any target that the route check
 * and the route's target could read differently (absolute-form, a backslash, a fragment, anything URL
 * parsing rewrites) is bad_request: see parseRequestTarget.
 */
export function requestPath(url: string): string {
  return parseRequestTarget(url).path
}
