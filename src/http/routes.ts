import type { Middleware } from 'koa'
import { CloakroomError } from '../errors.ts'
import { hasDotSegments, matchRoute, serveStatic, type Forwarder } from '../proxy/index.ts'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'
import { checkCsrf, type CsrfOptions } from './middleware/csrf.ts'
import { routeSession } from './require-session.ts'

/**
 * Everything that is not an /auth or health endpoint: the configured routes, first prefix match wins.
 * Order of checks (SPEC "API routes"): session, then CSRF header, then Origin.
 */
export function routesHandler(deps: Deps, forwarder: Forwarder, csrf: CsrfOptions): Middleware<AppState> {
  return async (ctx) => {
    const route = matchRoute(deps.config.routes, ctx.path)
    if (route === undefined) throw new CloakroomError('not_found', 'No route matches this path')
    if (hasDotSegments(ctx.path)) throw new CloakroomError('bad_request', 'Dot segments are not allowed in paths')

    const session = await routeSession(route.token, ctx.get('cookie') || undefined, deps).catch((error: unknown) => {
      // The grant is gone: the cookie is worthless, so the browser may as well forget it.
      if (error instanceof CloakroomError && error.code === 'session_expired') ctx.append('set-cookie', deps.cookies.clearSessionCookie())
      throw error
    })
    if (route.csrf) checkCsrf(ctx.headers, csrf)

    if (route.static !== undefined) {
      const relative = route.path === '/' ? ctx.path : ctx.path.slice(route.path.length)
      await serveStatic(ctx, route.static, relative || '/')
      return
    }
    ctx.respond = false
    await forwarder.web(ctx.req, ctx.res, { route, accessToken: session?.tokens.accessToken })
  }
}
