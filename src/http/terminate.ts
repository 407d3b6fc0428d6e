import type { Logger } from 'pino'
import { CloakroomError } from '../errors.ts'
import type { SessionEndReason } from '../observability/metrics.ts'
import type { EndReason, SessionRecord } from '../store/index.ts'
import type { Deps } from './deps.ts'
import { describeCause } from './middleware/problem.ts'

/**
 * Ends a session the way a user or an administrator does: deletes it and tells every instance why
 * (first, so no request can use or refresh it meanwhile: its streams hear `ended`, its WebSockets
 * close), then revokes its refresh token at the issuer (RFC 7009; the access token when there is
 * none). A failed revocation is logged, never a reason to keep the session.
 */
export async function terminate(deps: Pick<Deps, 'sessions' | 'oidc' | 'metrics'>, log: Pick<Logger, 'info' | 'warn'>, session: SessionRecord,
  reason: EndReason, metric: SessionEndReason): Promise<void> {
  await deps.sessions.end(session.id, reason)
  deps.metrics.sessionEnded(metric)
  const { refreshToken, accessToken } = session.tokens
  try {
    const revoked = await deps.oidc.revoke(refreshToken ?? accessToken, refreshToken === undefined ? 'access_token' : 'refresh_token')
    log.info({ event: 'session_ended', reason, revoked }, revoked
      ? 'session ended; its token revoked at the issuer'
      : 'session ended; nothing revoked: the issuer has no revocation endpoint')
  } catch (error) {
    // The cause names what to fix (an invalid_client names the config keys), never a secret.
    const cause = error instanceof CloakroomError && error.cause !== undefined ? error.cause : error
    log.warn({ event: 'session_ended', reason, cause: describeCause(cause) }, 'token revocation failed; session ended anyway')
  }
}
