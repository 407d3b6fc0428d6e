import type { IncomingHttpHeaders } from 'node:http'
import type { RouteConfig } from '../config/index.ts'
import { CloakroomError } from '../errors.ts'
import { hasDotSegments, matchRoute, routeShiftsWhenDecoded } from '../proxy/index.ts'
import type { SessionRecord } from '../store/index.ts'
import type { Deps } from './deps.ts'
import { checkCsrf, checkOrigin, type CsrfOptions } from './middleware/csrf.ts'
import { parseRequestTarget } from './request-target.ts'

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
 * The one gate in front of every configured route, for HTTP requests and WebSocket upgrades alike.
 * In order (SPEC "API routes"): a routable path, the session the route's token mode calls for, the
 * CSRF header (HTTP) or a same-origin Origin (WebSocket, which cannot carry the header), then the
 * token refresh. Only a request that passed every check counts as activity for the idle timeout.
 */
export async function authorizeRoute(request: RouteRequest, deps: Deps, csrf: CsrfOptions): Promise<AuthorizedRoute> {
  const path = requestPath(request.url)
  if (path === '/auth' || path.startsWith('/auth/')) throw new CloakroomError('not_found', 'No such endpoint')
  const route = matchRoute(deps.config.routes, path)
  if (route === undefined || (request.kind === 'websocket' && route.target === undefined)) {
    throw new CloakroomError('not_found', 'No route matches this path')
  }
  if (hasDotSegments(path)) throw new CloakroomError('bad_request', 'Dot segments are not allowed in paths')
  if (routeShiftsWhenDecoded(deps.config.routes, path)) throw new CloakroomError('bad_request', 'An encoded slash may not move a path to another route')

  const session = route.token === 'none' ? undefined : await deps.sessions.fromCookie(request.headers.cookie)
  if (route.token === 'user' && session === undefined) throw new CloakroomError('unauthenticated', 'No valid session')
  if (request.kind === 'http') {
    if (route.csrf) checkCsrf(request.headers, csrf)
  } else if (route.csrf || route.token !== 'none') {
    // Unlike an HTTP response, a WebSocket is readable cross-site: a handshake that may carry the
    // session needs a same-origin Origin even where the route turned the CSRF header off.
    checkOrigin(request.headers, csrf, true)
  }
  if (session === undefined) return { route, session }
  return { route, session: await deps.sessions.touch(await deps.refresher.fresh(session)) }
}

/**
 * The path of an origin-form request target ("/a/b?c"), undecoded. Any target that the route check
 * and the route's target could read differently (absolute-form, a backslash, a fragment, anything URL
 * parsing rewrites) is bad_request: see parseRequestTarget.
 */
export function requestPath(url: string): string {
  return parseRequestTarget(url).path
}
