import { randomUUID } from 'node:crypto'
import * as client from 'openid-client'
import { describeIdpFailure } from './describe-failure.ts'
import { clientRefusal, isClientRefused, isIdpUnavailable, oauthErrorCode, type ClientIdentity } from './idp-error.ts'

/**
 * What the token endpoint said to the client's credentials:
 * - accepted: it authenticated the client (and then refused the made-up code, as it should);
 * - refused: it refused the client itself (a wrong secret or key), or will not let it redeem codes;
 * - unavailable: it could not be reached, timed out or failed on its side;
 * - unproven: it answered something that neither proves nor disproves the credentials.
 */
export type CredentialsProof =
  | { readonly verdict: 'accepted' }
  | { readonly verdict: 'refused' | 'unavailable' | 'unproven'; readonly detail: string }

/**
 * Reads the token endpoint's answer to an authorization_code grant with a made-up code. An issuer
 * authenticates the client before it looks at the grant (RFC 6749 §4.1.3), so invalid_grant proves
 * the credentials and invalid_client (400 or 401, maybe only a WWW-Authenticate challenge) refutes them.
 */
export function readProof(error: unknown, who: ClientIdentity): CredentialsProof {
  if (isClientRefused(error)) return { verdict: 'refused', detail: clientRefusal(who) }
  if (isIdpUnavailable(error)) return { verdict: 'unavailable', detail: describeIdpFailure(error) }
  const code = oauthErrorCode(error)
  if (code === 'invalid_grant') return { verdict: 'accepted' }
  if (code === 'unauthorized_client' || code === 'unsupported_grant_type') {
    return { verdict: 'refused', detail: `the issuer does not let client ${JSON.stringify(who.clientId)} redeem authorization codes (${code}): check its registration at the issuer` }
  }
  return { verdict: 'unproven', detail: `the token endpoint answered ${describeIdpFailure(error)} to a made-up code, where invalid_grant was expected` }
}

/**
 * Proves the client's credentials at the token endpoint without a user: redeems a made-up code
 * with a made-up PKCE verifier and the configured redirect_uri, and reads the refusal.
 */
export async function proveCredentials(configuration: client.Configuration, redirectUri: string, who: ClientIdentity): Promise<CredentialsProof> {
  try {
    await client.genericGrantRequest(configuration, 'authorization_code', {
      code: `cloakroom-check-${randomUUID()}`,
      redirect_uri: redirectUri,
      code_verifier: client.randomPKCECodeVerifier(),
    })
  } catch (error) {
    return readProof(error, who)
  }
  return { verdict: 'unproven', detail: 'the token endpoint accepted a made-up authorization code' }
}
