import { createRemoteJWKSet, customFetch, errors, jwtVerify, type JWTPayload } from 'jose'
import type { ServerMetadata } from 'openid-client'
import { CloakroomError } from '../errors.ts'

const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'

/** What a valid logout token says: whom it names (an IdP session, a subject, or both) and its id. */
export interface LogoutTokenClaims {
  readonly sid: string | undefined
  readonly sub: string | undefined
  /** The token's unique id, for replay detection. */
  readonly jti: string
  /** Seconds until the token would no longer pass validation (how long to remember its jti). */
  readonly validFor: number
}

/** How old (by iat) a logout token may be, and the clock skew allowed. */
const MAX_AGE_SECONDS = 300
const CLOCK_TOLERANCE_SECONDS = 30

export interface LogoutTokenDeps {
  readonly metadata: () => Promise<ServerMetadata>
  readonly clientId: string
  readonly timeoutMs: number
  /** Epoch milliseconds. */
  readonly now: () => number
  /** Replaces fetch for the JWKS download, as for every other call to the issuer. */
  readonly fetch?: typeof globalThis.fetch
}

const invalid = (reason: string, cause?: unknown) =>
  new CloakroomError('bad_request', `Invalid logout token: ${reason}`, cause === undefined ? {} : { cause })

/**
 * Validates logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.6): signed by a key of the
 * issuer's JWKS with an algorithm it advertises (never "none"), iss, aud, a recent iat, exp when
 * present, the back-channel logout event, no nonce (so an ID token cannot pass for one), and a
 * sub or sid.
 */
export function createLogoutTokenValidator({ metadata, clientId, timeoutMs, now, fetch }: LogoutTokenDeps) {
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined

  return async function validateLogoutToken(token: string): Promise<LogoutTokenClaims> {
    const server = await metadata()
    if (server.jwks_uri === undefined) throw new CloakroomError('idp_unavailable', 'The issuer publishes no JWKS')
    jwks ??= createRemoteJWKSet(new URL(server.jwks_uri), {
      timeoutDuration: timeoutMs,
      cooldownDuration: 5_000,
      ...(fetch === undefined ? {} : { [customFetch]: fetch }),
    })
    let payload: JWTPayload
    let typ: string | undefined
    try {
      const verified = await jwtVerify(token, jwks, {
        issuer: server.issuer,
        audience: clientId,
        algorithms: server.id_token_signing_alg_values_supported?.filter((alg) => alg !== 'none') ?? ['RS256'],
        requiredClaims: ['iat', 'jti'],
        maxTokenAge: MAX_AGE_SECONDS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(now()),
      })
      payload = verified.payload
      typ = verified.protectedHeader.typ
    } catch (error) {
      // The issuer's keys could not be had: its side, not the token's. A 503 makes the IdP retry.
      if (keysUnavailable(error)) throw new CloakroomError('idp_unavailable', 'The issuer\'s keys could not be fetched', { cause: error })
      throw invalid(describeJoseError(error), error)
    }
    if (typ !== undefined && !['logout+jwt', 'application/logout+jwt', 'JWT'].includes(typ)) throw invalid(`unexpected typ ${JSON.stringify(typ).slice(0, 40)}`)
    const events = payload['events']
    if (typeof events !== 'object' || events === null || Array.isArray(events)) throw invalid('the events claim is missing')
    const event: unknown = (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT]
    if (typeof event !== 'object' || event === null || Array.isArray(event)) throw invalid('the events claim has no back-channel logout event')
    if (payload['nonce'] !== undefined) throw invalid('a logout token must not contain a nonce')
    const sub = typeof payload.sub === 'string' ? payload.sub : undefined
    const sid = typeof payload['sid'] === 'string' ? payload['sid'] : undefined
    if (sub === undefined && sid === undefined) throw invalid('it names neither sub nor sid')
    const validFor = (payload.iat ?? 0) + MAX_AGE_SECONDS + CLOCK_TOLERANCE_SECONDS - Math.floor(now() / 1000)
    return { sub, sid, jti: String(payload.jti), validFor: Math.max(1, validFor) }
  }
}

/** A JWKS download that failed (network, timeout, not 200), as opposed to a token that does not verify. */
function keysUnavailable(error: unknown): boolean {
  if (error instanceof errors.JWKSTimeout) return true
  if (!(error instanceof errors.JOSEError)) return true
  return error.code === 'ERR_JOSE_GENERIC' && /JSON Web Key Set HTTP response/.test(error.message)
}

function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'it has expired'
  if (error instanceof errors.JWTClaimValidationFailed) return `the ${error.claim} claim is not valid (${error.reason})`
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify'
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key of the issuer matches its signature'
  if (error instanceof errors.JOSEAlgNotAllowed) return 'its algorithm is not allowed'
  if (error instanceof errors.JWKSTimeout) return 'the issuer\'s keys could not be fetched in time'
  if (error instanceof errors.JOSEError) return 'it is not a valid signed JWT'
  return 'it could not be verified'
}
