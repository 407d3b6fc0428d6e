import type { Middleware } from 'koa'
import { CloakroomError } from '../errors.ts'
import type { Forwarder } from '../proxy/index.ts'
import type { AppState } from './app-state.ts'
import { authorizeRoute, requestPath } from './authorize-route.ts'
import type { Deps } from './deps.ts'
import type { CsrfOptions } from './middleware/csrf.ts'
import { addressKey } from './middleware/rate-limit.ts'
import { staticFiles } from './static-files.ts'

const isExpiredSession = (error: unknown) => error instanceof CloakroomError && error.code === 'session_expired'

/** Everything that is not an /auth or health endpoint: the configured routes, first prefix match wins. */
export function routesHandler(deps: Deps, forwarder: Forwarder, csrf: CsrfOptions): Middleware<AppState> {
  return async (ctx) => {
    // The grant is gone: the cookie is worthless, so the browser may as well forget it.
    const forgetCookie = (error: unknown): never => {
      if (isExpiredSession(error)) ctx.res.appendHeader('set-cookie', deps.cookies.clearSessionCookie())
      throw error
    }
    const { route, session } = await authorizeRoute({ url: ctx.req.url ?? '/', headers: ctx.headers, kind: 'http' }, deps, csrf).catch(forgetCookie)
    if (route.static !== undefined) {
      const path = requestPath(ctx.req.url ?? '/')
      await staticFiles(ctx, route.static, route.path === '/' ? path : path.slice(route.path.length) || '/')
      return
    }
    const release = deps.inFlight.take(session === undefined ? `address:${addressKey(ctx.ip)}` : `session:${session.id}`)
    ctx.respond = false
    try {
      await forwarder.web(ctx.req, ctx.res, {
        route,
        accessToken: session?.tokens.accessToken,
        ...(session === undefined ? {} : { renewToken: async () => (await deps.refresher.replace(session).catch(forgetCookie)).tokens.accessToken }),
      })
    } finally {
      release()
    }
  }
}
