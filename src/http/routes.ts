import type { Middleware } from 'koa'
import { CloakroomError } from '../errors.ts'
import type { Forwarder } from '../proxy/index.ts'
import type { AppState } from './app-state.ts'
import { authorizeRoute, requestPath } from './authorize-route.ts'
import type { Deps } from './deps.ts'
import type { CsrfOptions } from './middleware/csrf.ts'
import { staticFiles } from './static-files.ts'

/** Everything that is not an /auth or health endpoint: the configured routes, first prefix match wins. */
export function routesHandler(deps: Deps, forwarder: Forwarder, csrf: CsrfOptions): Middleware<AppState> {
  return async (ctx) => {
    const { route, session } = await authorizeRoute({ url: ctx.req.url ?? '/', headers: ctx.headers, kind: 'http' }, deps, csrf)
      .catch((error: unknown) => {
        // The grant is gone: the cookie is worthless, so the browser may as well forget it.
        if (error instanceof CloakroomError && error.code === 'session_expired') ctx.append('set-cookie', deps.cookies.clearSessionCookie())
        throw error
      })
    if (route.static !== undefined) {
      const path = requestPath(ctx.req.url ?? '/')
      await staticFiles(ctx, route.static, route.path === '/' ? path : path.slice(route.path.length) || '/')
      return
    }
    ctx.respond = false
    await forwarder.web(ctx.req, ctx.res, { route, accessToken: session?.tokens.accessToken })
  }
}
