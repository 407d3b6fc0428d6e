import type { Middleware } from 'koa'
import { CloakroomError } from '../errors.ts'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'
import { readForm } from './read-form.ts'

/**
 * POST /auth/backchannel-logout (OpenID Connect Back-Channel Logout 1.0): the issuer tells us a
 * session ended there. Every session it names (by IdP sid, else by subject) is deleted from the
 * shared store, so every instance forgets it at once. 200 on success, 400 with the reason otherwise.
 */
export function backchannelLogoutHandler(deps: Deps): Middleware<AppState> {
  return async (ctx) => {
    ctx.set('cache-control', 'no-store')
    const token = (await readForm(ctx.req)).get('logout_token')
    if (token === null || token === '') throw new CloakroomError('bad_request', 'Missing logout_token')
    const claims = await deps.oidc.validateLogoutToken(token)
    const ids = claims.sid !== undefined
      ? await deps.store.sessionsOf({ idpSid: claims.sid })
      : await deps.store.sessionsOf({ sub: claims.sub ?? '' })
    await Promise.all(ids.map((id) => deps.sessions.end(id)))
    ctx.state.log.info({ event: 'backchannel_logout', sessions: ids.length }, 'sessions ended by the issuer')
    ctx.status = 200
    ctx.body = ''
  }
}
