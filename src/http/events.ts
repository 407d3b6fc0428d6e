import type { Middleware } from 'koa'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'
import { checkOrigin, type CsrfOptions } from './middleware/csrf.ts'
import { requireSession } from './require-session.ts'

/**
 * GET /auth/events: the session's Server-Sent Events (session-streams.ts). EventSource cannot send
 * the CSRF header, so a foreign Origin or `Sec-Fetch-Site: cross-site` is refused instead; a stream
 * reads the session without sliding its idle timeout (an open tab is not activity).
 */
export function eventsHandler(deps: Deps, csrf: CsrfOptions): Middleware<AppState> {
  return async (ctx) => {
    checkOrigin(ctx.headers, csrf, false)
    const session = await requireSession(ctx, deps)
    ctx.respond = false
    try {
      await deps.sessionStreams.open(session, ctx.res)
    } catch (error) {
      // Refused before a byte was written (too many streams): Koa answers with the problem.
      if (ctx.res.headersSent) throw error
      ctx.respond = true
      throw error
    }
  }
}
