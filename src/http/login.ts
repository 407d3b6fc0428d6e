import { randomBytes } from 'node:crypto'
import type { Middleware } from 'koa'
import { bindingHash, PENDING_LOGIN_TTL } from '../session/index.ts'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'
import { addressKey, createRateLimiter } from './middleware/rate-limit.ts'
import { safeReturnTo } from './return-to.ts'

const random = () => randomBytes(32).toString('base64url')

/**
 * GET /auth/login: starts an authorization code flow (PKCE S256, state, nonce) and binds it to this
 * browser through the login cookie, so that only this browser can finish it (no login CSRF).
 * Each login has its own state, so several tabs can log in at once.
 */
export function loginHandler(deps: Deps): Middleware<AppState> {
  const limiter = createRateLimiter(deps.config.login.ratePerMinute, deps.now)
  return async (ctx) => {
    ctx.state.page = true
    limiter.hit(addressKey(ctx.ip))
    const returnTo = safeReturnTo(ctx.query['returnTo'])
    const request = { state: random(), nonce: random(), codeVerifier: random() }
    const url = await deps.oidc.authorizationUrl(request)

    const cookieHeader = ctx.get('cookie') || undefined
    const binding = (await deps.cookies.readLoginBinding(cookieHeader)) ?? random()
    await deps.store.putPendingLogin(request.state, {
      codeVerifier: request.codeVerifier,
      nonce: request.nonce,
      returnTo,
      browserBinding: bindingHash(binding),
      createdAt: Math.floor(deps.now() / 1000),
    }, PENDING_LOGIN_TTL)

    ctx.append('set-cookie', await deps.cookies.loginCookie(binding))
    ctx.set('cache-control', 'no-store')
    ctx.redirect(url.href)
  }
}
