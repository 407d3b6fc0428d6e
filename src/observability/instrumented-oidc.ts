import { CloakroomError } from '../errors.ts'
import type { OidcClient } from '../oidc/index.ts'
import type { IdpOperation, Metrics } from './metrics.ts'

/**
 * The OIDC client with each call to the issuer counted in `cloakroom_idp_errors_total` when the issuer
 * could not be reached or answered badly (idp_unavailable). A refusal that is the request's own fault
 * (a bad code, a spent refresh token, an invalid logout token) is not an issuer error.
 */
export function instrumentOidc(oidc: OidcClient, metrics: Pick<Metrics, 'idpError'>): OidcClient {
  const counted = <A extends unknown[], R>(call: (...args: A) => Promise<R>, operation: IdpOperation) => (...args: A): Promise<R> =>
    call(...args).catch((error: unknown) => {
      if (error instanceof CloakroomError && error.code === 'idp_unavailable') metrics.idpError(operation)
      throw error
    })
  return {
    ...oidc,
    // A getter: the spread above copied its value at this moment.
    get ready() { return oidc.ready },
    get unfit() { return oidc.unfit },
    discover: counted(oidc.discover, 'discovery'),
    exchangeCode: counted(oidc.exchangeCode, 'code_grant'),
    refresh: counted(oidc.refresh, 'refresh'),
    revoke: counted(oidc.revoke, 'revocation'),
    validateLogoutToken: counted(oidc.validateLogoutToken, 'jwks'),
    endSessionUrl: counted(oidc.endSessionUrl, 'end_session'),
  }
}
