import type { Middleware } from 'koa'
import { publicSessionId } from '../session/index.ts'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'
import { requireSession } from './require-session.ts'
import { checkCsrf, type CsrfOptions } from './middleware/csrf.ts'

/** GET /auth/user: who is logged in, and until when. Never a token. */
export function userHandler(deps: Deps, csrf: CsrfOptions): Middleware<AppState> {
  return async (ctx) => {
    const session = await requireSession(ctx, deps)
    checkCsrf(ctx.headers, csrf)
    ctx.set('cache-control', 'no-store')
    ctx.body = {
      sub: session.sub,
      claims: session.claims,
      session: { sid: publicSessionId(session.id), expiresAt: session.absoluteExpiresAt, idleExpiresAt: session.idleExpiresAt },
    }
  }
}
