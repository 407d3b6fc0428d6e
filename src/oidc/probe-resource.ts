import * as client from 'openid-client'
import { describeIdpFailure } from './describe-failure.ts'
import { isIdpUnavailable, oauthErrorCode } from './idp-error.ts'

/**
 * Whether the issuer takes a resource indicator (RFC 8707) in an authorization request, for
 * `cloakroom check` (discovery has no field for it):
 * - accepted: the request went on towards a sign-in;
 * - refused: the issuer answered invalid_target;
 * - unproven: anything else (unreachable, another error), with what it was.
 */
export type ResourceProbe = { readonly verdict: 'accepted' } | { readonly verdict: 'refused' } | { readonly verdict: 'unproven'; readonly detail: string }

/**
 * Starts an authorization request for `resource` and reads the issuer's first answer; no user
 * signs in. With PAR the pushed request's answer tells; without, the authorization endpoint's
 * redirect does (an error comes back to the redirect_uri, a fine request goes on to a sign-in page).
 */
export async function probeResource(configuration: client.Configuration, redirectUri: string, scope: string, resource: string, usePar: boolean,
  fetch: (url: URL, init: { redirect: 'manual' }) => Promise<Response> = globalThis.fetch): Promise<ResourceProbe> {
  const parameters = {
    redirect_uri: redirectUri,
    response_type: 'code',
    scope,
    state: client.randomState(),
    nonce: client.randomNonce(),
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    resource,
  }
  if (usePar) {
    try {
      await client.buildAuthorizationUrlWithPAR(configuration, parameters)
      return { verdict: 'accepted' }
    } catch (error) {
      if (!isIdpUnavailable(error) && oauthErrorCode(error) === 'invalid_target') return { verdict: 'refused' }
      return { verdict: 'unproven', detail: `the PAR endpoint answered ${describeIdpFailure(error)}` }
    }
  }
  try {
    const response = await fetch(client.buildAuthorizationUrl(configuration, parameters), { redirect: 'manual' })
    await response.body?.cancel()
    const location = response.headers.get('location')
    if (response.status >= 300 && response.status < 400 && location !== null) {
      const target = new URL(location, configuration.serverMetadata().authorization_endpoint)
      const error = target.href.startsWith(redirectUri) ? target.searchParams.get('error') : null
      if (error === 'invalid_target') return { verdict: 'refused' }
      if (error !== null) return { verdict: 'unproven', detail: `the authorization endpoint answered ${error}` }
      return { verdict: 'accepted' }
    }
    if (response.status === 200) return { verdict: 'accepted' }
    return { verdict: 'unproven', detail: `the authorization endpoint answered HTTP ${response.status}` }
  } catch (error) {
    return { verdict: 'unproven', detail: describeIdpFailure(error) }
  }
}
