import type { Middleware } from 'koa'
import { CloakroomError } from '../errors.ts'
import type { AppState } from './app-state.ts'
import { authorizeRoute, requestPath } from './authorize-route.ts'
import type { Deps } from './deps.ts'
import type { CsrfOptions } from './middleware/csrf.ts'
import { staticFiles } from './static-files.ts'

/**
 * Everything Koa gets that is not an /auth or health endpoint: static routes, and the errors of
 * requests no route takes. Routes with a target never get here: proxied-routes.ts serves them.
 */
export function routesHandler(deps: Deps, csrf: CsrfOptions): Middleware<AppState> {
  return async (ctx) => {
    const { route } = await authorizeRoute({ url: ctx.req.url ?? '/', headers: ctx.headers, kind: 'http' }, deps, csrf).catch((error: unknown) => {
      // The grant is gone: the cookie is worthless, so the browser may as well forget it.
      if (error instanceof CloakroomError && error.code === 'session_expired') ctx.res.appendHeader('set-cookie', deps.cookies.clearSessionCookie())
      throw error
    })
    if (route.static === undefined) throw new Error(`a proxied route reached Koa: ${route.path}`)
    ctx.state.route = route.path
    const path = requestPath(ctx.req.url ?? '/')
    await staticFiles(ctx, route.static, route.path === '/' ? path : path.slice(route.path.length) || '/')
  }
}
