import type { Config } from '../config/index.ts'

/** What `check` says about one feature of the issuer: FAILED only for what cannot work with this configuration. */
export interface IssuerFinding {
  readonly feature: string
  readonly verdict: 'ok' | 'WARNING' | 'FAILED'
  readonly detail: string
}

/** The discovery fields this reads (RFC 8414, OpenID Connect Discovery, and the RFCs named below). */
export interface IssuerMetadata {
  readonly code_challenge_methods_supported?: readonly string[] | undefined
  readonly authorization_response_iss_parameter_supported?: boolean | undefined
  readonly revocation_endpoint?: string | undefined
  readonly end_session_endpoint?: string | undefined
  readonly backchannel_logout_supported?: boolean | undefined
  readonly backchannel_logout_session_supported?: boolean | undefined
  readonly pushed_authorization_request_endpoint?: string | undefined
  readonly require_pushed_authorization_requests?: boolean | undefined
  readonly dpop_signing_alg_values_supported?: readonly string[] | undefined
  readonly acr_values_supported?: readonly string[] | undefined
}

/** The DPoP proof algorithm Cloakroom signs with (a P-256 key per session). */
export const DPOP_ALG = 'ES256'

const list = (values: readonly string[] | undefined) => values === undefined || values.length === 0 ? '(none advertised)' : values.join(', ')

/**
 * What the issuer supports, from its discovery document, and what that means for `config` (SPEC:
 * `cloakroom check` reports PKCE, `iss`, revocation, end-session, back-channel logout, PAR, DPoP,
 * resource indicators and `acr` values). Resource indicators have no discovery field (RFC 8707):
 * whether the issuer takes each resource is proven separately.
 */
export function describeIssuer(metadata: IssuerMetadata, config: Config): IssuerFinding[] {
  const findings: IssuerFinding[] = []
  const add = (feature: string, verdict: IssuerFinding['verdict'], detail: string) => findings.push({ feature, verdict, detail })

  const pkce = metadata.code_challenge_methods_supported
  if (pkce === undefined) add('pkce', 'WARNING', 'not advertised: S256 is sent anyway; an issuer that ignores it would leave codes unbound to the login')
  else if (!pkce.includes('S256')) add('pkce', 'FAILED', `S256 is not among ${list(pkce)}: logins cannot work`)
  else add('pkce', 'ok', `S256 (of ${list(pkce)})`)

  add('iss parameter', metadata.authorization_response_iss_parameter_supported === true ? 'ok' : 'WARNING', metadata.authorization_response_iss_parameter_supported === true
    ? 'sent and checked on every callback (RFC 9207)'
    : 'not advertised: callbacks carry no iss to check (mix-up defence rests on this client having one issuer)')

  add('revocation', metadata.revocation_endpoint === undefined ? 'WARNING' : 'ok', metadata.revocation_endpoint === undefined
    ? 'no revocation endpoint: logout and ended sessions cannot revoke refresh tokens, which stay valid at the issuer until they expire'
    : `${metadata.revocation_endpoint}: logout revokes the refresh token`)

  add('end-session', metadata.end_session_endpoint === undefined ? 'WARNING' : 'ok', metadata.end_session_endpoint === undefined
    ? `no end_session_endpoint: logout ends Cloakroom's session only; the user stays signed in at the issuer (GET /auth/logout goes to ${config.oidc.postLogoutRedirectUri})`
    : `${metadata.end_session_endpoint}: logout also signs the user out at the issuer`)

  const backchannel = metadata.backchannel_logout_supported === true
  add('back-channel logout', backchannel ? 'ok' : 'WARNING', backchannel
    ? `supported${metadata.backchannel_logout_session_supported === true ? ', with sid' : ' (without sid: a logout token ends every session of its subject)'}: a sign-out at the issuer ends the sessions here`
    : 'not supported: a sign-out at the issuer does not reach Cloakroom; sessions end at their deadlines or their next failed refresh')

  findings.push(parFinding(metadata, config))
  findings.push(dpopFinding(metadata, config))

  const acrs = metadata.acr_values_supported
  const asked = [...new Set(config.routes.flatMap((route) => route.acrValues ?? []))]
  const unknown = acrs === undefined ? [] : asked.filter((value) => !acrs.includes(value))
  if (unknown.length > 0) add('acr values', 'WARNING', `${unknown.join(', ')} asked by a route's acrValues but not among ${list(acrs)}: step-up there may never succeed`)
  else add('acr values', 'ok', `${list(acrs)}${asked.length === 0 ? '' : `; routes ask for ${asked.join(', ')}`}`)
  return findings
}

function parFinding(metadata: IssuerMetadata, config: Config): IssuerFinding {
  const endpoint = metadata.pushed_authorization_request_endpoint
  const mode = config.oidc.pushedAuthorizationRequests
  if (endpoint === undefined) {
    return mode === 'always'
      ? { feature: 'PAR', verdict: 'FAILED', detail: 'oidc.pushedAuthorizationRequests is always, but the issuer has no pushed_authorization_request_endpoint: logins cannot start' }
      : { feature: 'PAR', verdict: 'ok', detail: 'not offered: authorization parameters travel in the browser\'s URL' }
  }
  if (mode === 'never') {
    return metadata.require_pushed_authorization_requests === true
      ? { feature: 'PAR', verdict: 'FAILED', detail: 'the issuer requires pushed authorization requests, but oidc.pushedAuthorizationRequests is never: logins cannot start' }
      : { feature: 'PAR', verdict: 'ok', detail: `${endpoint} offered, not used (oidc.pushedAuthorizationRequests: never)` }
  }
  return { feature: 'PAR', verdict: 'ok', detail: `${endpoint}: the browser's redirect carries only client_id and request_uri` }
}

function dpopFinding(metadata: IssuerMetadata, config: Config): IssuerFinding {
  const algs = metadata.dpop_signing_alg_values_supported
  if (!config.oidc.dpop) return { feature: 'DPoP', verdict: 'ok', detail: `${list(algs)}; not used (oidc.dpop: false): Bearer tokens` }
  if (algs === undefined || algs.length === 0) return { feature: 'DPoP', verdict: 'FAILED', detail: 'oidc.dpop is true, but the issuer advertises no DPoP algorithms (dpop_signing_alg_values_supported)' }
  if (!algs.includes(DPOP_ALG)) return { feature: 'DPoP', verdict: 'FAILED', detail: `oidc.dpop is true, but the issuer takes ${list(algs)}, not ${DPOP_ALG}, the algorithm Cloakroom signs with` }
  return { feature: 'DPoP', verdict: 'ok', detail: `${DPOP_ALG} (of ${list(algs)}): tokens bound to each session's key, targets get proofs` }
}
