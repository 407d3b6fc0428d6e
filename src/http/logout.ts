import { timingSafeEqual } from 'node:crypto'
import type { Context, Middleware } from 'koa'
import { CloakroomError } from '../errors.ts'
import { publicSessionId } from '../session/index.ts'
import type { SessionRecord } from '../store/index.ts'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'
import { checkCsrf, type CsrfOptions } from './middleware/csrf.ts'
import { describeCause } from './middleware/problem.ts'
import { optionalSession } from './require-session.ts'

/**
 * Ends a session: deletes it from the store and clears the cookie (first, so no request can use or
 * refresh it meanwhile) with every login cookie the browser sent (a login left unfinished in another
 * tab must not sign the user back in), then revokes its refresh token at the issuer (RFC 7009; the
 * access token when there is none). A failed revocation is logged, never a reason to keep the session. Returns
 * the issuer's end-session URL, if it has one: without a session too, so the user can still end
 * the IdP's session (it then asks them to confirm, having no id_token_hint).
 */
async function endSession(ctx: Context & { state: AppState }, deps: Deps, session: SessionRecord | undefined): Promise<string | undefined> {
  ctx.append('set-cookie', deps.cookies.clearSessionCookie())
  for (const line of deps.cookies.clearLoginCookies(ctx.get('cookie') || undefined, 0)) ctx.append('set-cookie', line)
  ctx.set('cache-control', 'no-store')
  if (session !== undefined) {
    await deps.sessions.end(session.id, 'logout')
    deps.metrics.sessionEnded('logout')
    const { refreshToken, accessToken } = session.tokens
    try {
      const revoked = await deps.oidc.revoke(refreshToken ?? accessToken, refreshToken === undefined ? 'access_token' : 'refresh_token')
      ctx.state.log.info({ event: 'logout', revoked }, revoked
        ? 'session ended; its token revoked at the issuer'
        : 'session ended; nothing revoked: the issuer has no revocation endpoint')
    } catch (error) {
      // The cause names what to fix (an invalid_client names the config keys), never a secret.
      const cause = error instanceof CloakroomError && error.cause !== undefined ? error.cause : error
      ctx.state.log.warn({ event: 'logout', cause: describeCause(cause) }, 'token revocation failed; session ended anyway')
    }
  }
  return deps.oidc.endSessionUrl(session?.tokens.idToken).catch(() => undefined)
}

/** POST /auth/logout (CSRF header required): 200 {"logoutUrl": …}, with or without a session. */
export function logoutPostHandler(deps: Deps, csrf: CsrfOptions): Middleware<AppState> {
  return async (ctx) => {
    checkCsrf(ctx.headers, csrf)
    const logoutUrl = await endSession(ctx, deps, await optionalSession(ctx, deps))
    ctx.body = { logoutUrl: logoutUrl ?? null }
  }
}

/**
 * GET /auth/logout?sid=…: the same for a plain link, then a redirect to the issuer's end-session
 * URL (or postLogoutRedirectUri). The sid from /auth/user must match, so another site cannot log
 * the user out by linking here.
 */
export function logoutGetHandler(deps: Deps): Middleware<AppState> {
  return async (ctx) => {
    ctx.state.page = true
    const sid = ctx.query['sid']
    if (typeof sid !== 'string' || sid === '') throw new CloakroomError('bad_request', 'Logging out needs the session\'s sid.')
    const session = await optionalSession(ctx, deps)
    if (session === undefined || !sameText(sid, publicSessionId(session.id))) {
      throw new CloakroomError('bad_request', 'This logout link is not for the current session.')
    }
    const logoutUrl = await endSession(ctx, deps, session)
    ctx.redirect(logoutUrl ?? deps.config.oidc.postLogoutRedirectUri)
  }
}

function sameText(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)]
  return x.length === y.length && timingSafeEqual(x, y)
}
