import type { Middleware } from 'koa'
import { CloakroomError } from '../errors.ts'
import { publicSessionId } from '../session/index.ts'
import { sessionDeadline, type SessionRecord } from '../store/index.ts'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'
import { checkCsrf, type CsrfOptions } from './middleware/csrf.ts'
import { requireSession } from './require-session.ts'
import { terminate } from './terminate.ts'

/** A session as the SPA sees it: never its id (only the one-way `sid`), never a token. */
export function describeSession(session: SessionRecord) {
  return {
    sid: publicSessionId(session.id),
    createdAt: session.createdAt,
    lastSeenAt: session.lastSeenAt,
    // When it ends if nothing happens: the earlier of its idle and absolute deadlines.
    expiresAt: sessionDeadline(session),
    userAgent: session.userAgent ?? null,
  }
}

/** GET /auth/sessions (CSRF header): every live session of the signed-in subject, on every instance. */
export function sessionListHandler(deps: Deps, csrf: CsrfOptions): Middleware<AppState> {
  return async (ctx) => {
    const session = await requireSession(ctx, deps)
    checkCsrf(ctx.headers, csrf)
    const all = await deps.sessions.ofSubject(session.sub)
    ctx.set('cache-control', 'no-store')
    ctx.body = {
      sessions: all.sort((a, b) => b.lastSeenAt - a.lastSeenAt).map((other) => ({ ...describeSession(other), current: other.id === session.id })),
    }
  }
}

/**
 * DELETE /auth/sessions/{sid} (CSRF header): ends that session of the same subject (terminate: its
 * refresh token revoked, its streams told `revoked`, its WebSockets closed). 204; 404 for any sid that
 * is not one of this subject's live sessions, so the answer says nothing about other subjects'.
 */
export function sessionDeleteHandler(deps: Deps, csrf: CsrfOptions): Middleware<AppState> {
  return async (ctx) => {
    const session = await requireSession(ctx, deps)
    checkCsrf(ctx.headers, csrf)
    const sid = (ctx as { params?: Record<string, string> }).params?.['sid'] ?? ''
    const target = (await deps.sessions.ofSubject(session.sub)).find((other) => publicSessionId(other.id) === sid)
    if (target === undefined) throw new CloakroomError('not_found', 'No such session')
    await terminate(deps, ctx.state.log, target, 'revoked', 'user')
    if (target.id === session.id) ctx.append('set-cookie', deps.cookies.clearSessionCookie())
    ctx.set('cache-control', 'no-store')
    ctx.status = 204
  }
}
