import { createHash } from 'node:crypto'
import type { Middleware } from 'koa'
import { CloakroomError } from '../errors.ts'
import type { AppState } from './app-state.ts'
import type { Deps } from './deps.ts'
import { readForm } from './read-body.ts'
import type { LogoutTokenClaims } from '../oidc/index.ts'

/** The sessions a logout token names: by IdP sid (only those of its sub, when it names one too), else every session of its sub. */
async function sessionsNamed(deps: Deps, { sid, sub }: LogoutTokenClaims): Promise<string[]> {
  if (sid === undefined) return sub === undefined ? [] : deps.store.sessionsOf({ sub })
  const ids = await deps.store.sessionsOf({ idpSid: sid })
  if (sub === undefined) return ids
  const sessions = await Promise.all(ids.map((id) => deps.store.getSession(id)))
  return ids.filter((_id, i) => sessions[i]?.sub === sub)
}

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
    // A logout token is good once: a replayed sub-only token would end logins made after it. It is
    // recorded as used only once its sessions are gone, so the IdP's retry after a 503 still works.
    const jti = createHash('sha256').update(`${claims.jti}\0${claims.sub ?? ''}\0${claims.sid ?? ''}`).digest('base64url')
    const used = `logout-jti:${jti}`
    if (await deps.store.hasMarker(used)) throw new CloakroomError('bad_request', 'Invalid logout token: it was already used')
    const ids = await sessionsNamed(deps, claims)
    await Promise.all(ids.map(async (id) => {
      await deps.sessions.end(id, 'backchannel')
      deps.metrics.sessionEnded('backchannel_logout')
    }))
    await deps.store.putMarker(used, claims.validFor * 1000)
    ctx.state.log.info({ event: 'backchannel_logout', sessions: ids.length }, 'sessions ended by the issuer')
    ctx.status = 200
    ctx.body = ''
  }
}
