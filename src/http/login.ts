import { randomBytes } from 'node:crypto'
import type { Middleware } from 'koa'
import { bindingHash, MAX_LOGIN_COOKIES, PENDING_LOGIN_TTL } from '../session/index.ts'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'
import { addressKey, createRateLimiter } from './middleware/rate-limit.ts'
import { safeReturnTo } from './return-to.ts'
import { readAcrValues, readMaxAge } from '../session/step-up.ts'
import { newDpopKey } from '../session/dpop-key.ts'
import { CloakroomError } from '../errors.ts'

const random = () => randomBytes(32).toString('base64url')

/**
 * GET /auth/login: starts an authorization code flow (PKCE S256, state, nonce) and binds it to this
 * browser through a login cookie of its own (named for its state, holding a fresh binding whose hash
 * the pending login keeps), so that only this browser can finish it (no login CSRF). Logins share
 * nothing in the browser, so tabs that start at the same moment, with no cookie yet, each complete.
 * The browser keeps at most MAX_LOGIN_COOKIES of them: the oldest beyond that are expired here.
 */
export function loginHandler(deps: Deps): Middleware<AppState> {
  const limiter = createRateLimiter(deps.config.login.ratePerMinute, deps.now)
  return async (ctx) => {
    ctx.state.page = true
    limiter.hit(addressKey(ctx.ip))
    const returnTo = safeReturnTo(ctx.query['returnTo'])
    const request = {
      state: random(), nonce: random(), codeVerifier: random(),
      prompt: readPrompt(ctx.query['prompt']), acrValues: readAcrValues(ctx.query['acr_values']), maxAge: readMaxAge(ctx.query['max_age']),
      // DPoP: the session-to-be's key, made now so that the code is bound to it.
      dpopKey: deps.config.oidc.dpop ? newDpopKey() : undefined,
    }
    const url = await deps.oidc.authorizationUrl(request)

    const binding = random()
    await deps.store.putPendingLogin(request.state, {
      codeVerifier: request.codeVerifier,
      nonce: request.nonce,
      returnTo,
      browserBinding: bindingHash(binding),
      createdAt: Math.floor(deps.now() / 1000),
      ...(request.maxAge === undefined ? {} : { maxAge: request.maxAge }),
      ...(request.dpopKey === undefined ? {} : { dpopKey: request.dpopKey }),
    }, PENDING_LOGIN_TTL)

    for (const line of deps.cookies.clearLoginCookies(ctx.get('cookie') || undefined, MAX_LOGIN_COOKIES - 1)) ctx.append('set-cookie', line)
    ctx.append('set-cookie', await deps.cookies.loginCookie(request.state, binding))
    ctx.set('cache-control', 'no-store')
    ctx.redirect(url.href)
  }
}

const PROMPTS: ReadonlySet<string> = new Set(['login', 'consent', 'select_account'])

/** `prompt` as a login may pass it on (SPEC: login, consent, select_account), or undefined. */
function readPrompt(value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !PROMPTS.has(value)) throw new CloakroomError('bad_request', 'prompt must be login, consent or select_account')
  return value
}
