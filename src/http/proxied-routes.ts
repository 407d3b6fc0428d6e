import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RouteConfig } from '../config/index.ts'
import { CloakroomError } from '../errors.ts'
import { accessTokenFor, credentialsFor } from '../session/index.ts'
import { clientAddress, type Forwarder, type ForwardOptions } from '../proxy/index.ts'
import { authorize, routeFor } from './authorize-route.ts'
import type { Deps } from './deps.ts'
import type { CsrfOptions } from './middleware/csrf.ts'
import { logProblem, problemFor, writeProblem } from './middleware/problem.ts'
import { addressKey } from './middleware/rate-limit.ts'
import { inSpan } from '../observability/tracing.ts'

/**
 * The hot path: requests for a route with a target, served on bare node:http. Every API call an SPA
 * makes comes here, so it does only what such a call needs (the route gate, the proxy, one metric, one
 * log line) and leaves Koa, its router and the per-request child logger to the /auth endpoints, the
 * health checks and static routes.
 */
export interface ProxiedRoutes {
  /** Serves the request and returns true when it is for a proxied route; false leaves it to Koa. */
  serve(req: IncomingMessage, res: ServerResponse): boolean
}

/**
 * `isEndpoint(path, method)` says whether Koa's router serves this request (the /auth endpoints and
 * health checks, whose router matching is its own: case-insensitive, a trailing slash allowed).
 */
export function createProxiedRoutes(deps: Deps, forwarder: Forwarder, csrf: CsrfOptions, isEndpoint: (path: string, method: string) => boolean): ProxiedRoutes {
  const { config, log } = deps
  // Built once per route rather than per request.
  const attributes = new Map(config.routes.map((route) => [route, { 'cloakroom.route': route.path }]))
  const spanAttributes = (route: RouteConfig) => attributes.get(route) ?? { 'cloakroom.route': route.path }

  /** The route, when this is a request the fast path serves. */
  function claim(req: IncomingMessage): { route: RouteConfig; path: string } | undefined {
    const url = req.url ?? '/'
    let claimed
    try {
      claimed = routeFor(url, config.routes, 'http')
    } catch {
      return undefined // Koa answers the same error from the same gate.
    }
    if (claimed.route.target === undefined || isEndpoint(claimed.path, req.method ?? 'GET')) return undefined
    return claimed
  }

  /** The grant is gone: the cookie is worthless, so the browser may as well forget it. */
  function forgetCookie(res: ServerResponse, error: unknown): void {
    if (error instanceof CloakroomError && error.code === 'session_expired' && !res.headersSent) {
      res.appendHeader('set-cookie', deps.cookies.clearSessionCookie())
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse, route: RouteConfig, path: string): Promise<void> {
    const started = performance.now()
    // X-Request-Id goes out with the answer (the forwarder's), or below with a problem: not set here,
    // as a header set before writeHead makes Node set each of the target's headers one by one.
    const reqId = randomUUID()
    try {
      const session = await authorize(route, { url: req.url ?? '/', headers: req.headers, kind: 'http' }, deps, csrf)
      // The browser left while its session was read or refreshed: nothing to count, forward or answer.
      if (res.closed || res.destroyed) return
      const release = deps.inFlight.take(session === undefined
        ? `address:${addressKey(clientAddress(req.headers['x-forwarded-for'], req.socket.remoteAddress ?? '', config.trustProxy))}`
        : `session:${session.id}`)
      try {
        const { accessToken, tokenType, dpopKey } = credentialsFor(session, route.resource)
        const options: ForwardOptions = {
          route,
          requestId: reqId,
          accessToken,
          tokenType,
          dpopKey,
          renewToken: session === undefined ? undefined : () => deps.refresher.replace(session, route.resource).then(
            (renewed) => accessTokenFor(renewed, route.resource) ?? '',
            (error: unknown) => {
              forgetCookie(res, error)
              throw error
            }),
        }
        await inSpan('cloakroom.proxy', spanAttributes(route), () => forwarder.web(req, res, options))
      } finally {
        release()
      }
    } catch (error) {
      forgetCookie(res, error)
      logProblem(log.child({ reqId }), error, problemFor(error))
      if (!res.headersSent) res.setHeader('x-request-id', reqId)
      writeProblem(res, error)
    } finally {
      // 499 (as nginx logs it): the browser left before any answer was sent.
      const status = res.headersSent ? res.statusCode : 499
      deps.metrics.observeRequest(route.path, req.method ?? 'GET', status, (performance.now() - started) / 1000)
      // An access log line per proxied call at info would cost more than the rest of the call: the
      // calls that went well are logged at debug, the others at info, like every /auth request.
      const level = status < 400 ? 'debug' : 'info'
      if (log.isLevelEnabled(level)) log[level]({ reqId, method: req.method, path, status, ms: Math.round(performance.now() - started) }, 'request')
    }
  }

  return {
    serve(req, res) {
      const claimed = claim(req)
      if (claimed === undefined) return false
      void handle(req, res, claimed.route, claimed.path)
      return true
    },
  }
}
