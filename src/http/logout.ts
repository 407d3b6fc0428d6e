import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Context, Middleware } from 'koa'
import { CloakroomError } from '../errors.ts'
import { publicSessionId } from '../session/index.ts'
import type { SessionRecord } from '../store/index.ts'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'
import { checkCsrf, type CsrfOptions } from './middleware/csrf.ts'
import { readJson } from './read-body.ts'
import { terminate } from './terminate.ts'
import { optionalSession } from './require-session.ts'

/**
 * Logs out: clears the cookie with every login cookie the browser sent (a login left unfinished in
 * another tab must not sign the user back in), and ends the session (terminate: deleted, told
 * everywhere, its refresh token revoked); `everywhere`, every session of its subject. Returns the
 * issuer's end-session URL, if it has one: without a session too, so the user can still end the
 * IdP's session (it then asks them to confirm, having no id_token_hint).
 */
async function logOut(ctx: Context & { state: AppState }, deps: Deps, session: SessionRecord | undefined, everywhere = false): Promise<string | undefined> {
  ctx.append('set-cookie', deps.cookies.clearSessionCookie())
  for (const line of deps.cookies.clearLoginCookies(ctx.get('cookie') || undefined, 0)) ctx.append('set-cookie', line)
  ctx.set('cache-control', 'no-store')
  if (session !== undefined) {
    const others = everywhere ? (await deps.sessions.ofSubject(session.sub)).filter((other) => other.id !== session.id) : []
    await terminate(deps, ctx.state.log, session, 'logout', 'logout')
    await Promise.all(others.map((other) => terminate(deps, ctx.state.log, other, 'logout', 'logout')))
  }
  return deps.oidc.endSessionUrl(session?.tokens.idToken).catch(() => undefined)
}

/** POST /auth/logout (CSRF header required): 200 {"logoutUrl": …}, with or without a session; `{"everywhere":true}` ends every session of the subject. */
export function logoutPostHandler(deps: Deps, csrf: CsrfOptions): Middleware<AppState> {
  return async (ctx) => {
    checkCsrf(ctx.headers, csrf)
    const { everywhere } = await readLogoutOptions(ctx.req)
    const logoutUrl = await logOut(ctx, deps, await optionalSession(ctx, deps), everywhere)
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
    const logoutUrl = await logOut(ctx, deps, session)
    ctx.redirect(logoutUrl ?? deps.config.oidc.postLogoutRedirectUri)
  }
}

function sameText(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)]
  return x.length === y.length && timingSafeEqual(x, y)
}

/** The optional JSON body of POST /auth/logout: `{"everywhere": true}`; no body, `{}`. */
async function readLogoutOptions(req: IncomingMessage): Promise<{ everywhere: boolean }> {
  const body = await readJson(req, 1024)
  if (body === undefined) return { everywhere: false }
  const everywhere = (body as { everywhere?: unknown }).everywhere
  if (everywhere !== undefined && typeof everywhere !== 'boolean') throw new CloakroomError('bad_request', 'everywhere must be true or false')
  return { everywhere: everywhere === true }
}
