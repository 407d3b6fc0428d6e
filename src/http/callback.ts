import type { Middleware } from 'koa'
import { CloakroomError } from '../errors.ts'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'
import { bindingHash } from '../session/index.ts'
import { summarizeUserAgent } from '../session/user-agent.ts'

const OAUTH_ERROR = /^[\x20-\x7e]{1,64}$/

/**
 * GET /auth/callback: finishes a login begun by /auth/login in this same browser. Every failure is a
 * 400 page naming the problem, and no session; an unreachable issuer is a 503 page. The login's
 * cookie is cleared whatever the outcome, as soon as the state names it.
 */
export function callbackHandler(deps: Deps): Middleware<AppState> {
  return async (ctx) => {
    ctx.state.page = true
    ctx.set('cache-control', 'no-store')
    try {
      await finishLogin(ctx)
      deps.metrics.login('ok')
    } catch (error) {
      deps.metrics.login('refused')
      throw error
    }
  }

  async function finishLogin(ctx: Parameters<Middleware<AppState>>[0]): Promise<void> {
    const state = ctx.query['state']
    if (typeof state !== 'string' || state === '') throw new CloakroomError('bad_request', 'The login response has no state.')
    ctx.append('set-cookie', deps.cookies.clearLoginCookie(state))

    // Taking the pending login consumes it, whatever happens next: a state is good for one try.
    const pending = await deps.store.takePendingLogin(state)
    if (pending === undefined) {
      throw new CloakroomError('bad_request', 'This login is unknown, was already used, or has expired. Please log in again.')
    }
    const cookieHeader = ctx.get('cookie') || undefined
    const binding = await deps.cookies.readLoginBinding(cookieHeader, state)
    if (binding === undefined || bindingHash(binding) !== pending.browserBinding) {
      throw new CloakroomError('bad_request', 'This login was not started in this browser.')
    }
    const idpError = ctx.query['error']
    if (idpError !== undefined) {
      const code = typeof idpError === 'string' && OAUTH_ERROR.test(idpError) ? idpError : 'invalid error'
      throw new CloakroomError('bad_request', `The identity provider did not complete the login (${code}).`)
    }

    const callbackUrl = new URL(deps.config.oidc.callbackPath, deps.config.publicUrl)
    callbackUrl.search = ctx.querystring
    const { tokens, claims } = await deps.oidc.exchangeCode(callbackUrl, { state, ...pending })

    const previous = await deps.cookies.readSessionId(cookieHeader)
    if (previous !== undefined) await deps.sessions.end(previous, 'replaced')
    const session = await deps.sessions.start({
      sub: claims.sub, claims, tokens, userAgent: summarizeUserAgent(ctx.get('user-agent') || undefined),
      ...(pending.dpopKey === undefined ? {} : { dpopKey: pending.dpopKey }),
    })
    deps.metrics.sessionStarted()
    ctx.append('set-cookie', await deps.cookies.sessionCookie(session.id))
    ctx.state.log.info({ event: 'login' }, 'session started')
    ctx.redirect(pending.returnTo)
  }
}
