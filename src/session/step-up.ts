import { CloakroomError } from '../errors.ts'

/** What a step-up asks of the new login: `acr_values` (space-separated) and/or `max_age` (seconds). */
export interface StepUp {
  readonly acrValues?: string | undefined
  readonly maxAge?: number | undefined
}

// RFC 6749 scope-token-like characters: what an acr value may hold in a URL we build.
const ACR_VALUES = /^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/

/** The `/auth/login` URL that asks the issuer for `stepUp` (the SPA adds `returnTo`). */
export function stepUpLoginUrl({ acrValues, maxAge }: StepUp): string {
  const query = new URLSearchParams()
  if (acrValues !== undefined) query.set('acr_values', acrValues)
  if (maxAge !== undefined) query.set('max_age', String(maxAge))
  return `/auth/login?${query.toString()}`
}

export function stepUpRequired(stepUp: StepUp, why: string): CloakroomError {
  return new CloakroomError('step_up_required', why, { loginUrl: stepUpLoginUrl(stepUp) })
}

/** `acr_values` as a login may ask for them, or undefined; anything else is bad_request. */
export function readAcrValues(value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length > 512 || !ACR_VALUES.test(value)) throw new CloakroomError('bad_request', 'acr_values must be space-separated values')
  return value
}

/** `max_age` as a login may ask for it (whole seconds), or undefined; anything else is bad_request. */
export function readMaxAge(value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || !/^(?:0|[1-9]\d{0,8})$/.test(value)) throw new CloakroomError('bad_request', 'max_age must be a whole number of seconds')
  return Number(value)
}

/**
 * A target's RFC 9470 challenge (`WWW-Authenticate: Bearer error="insufficient_user_authentication"`,
 * or `DPoP …` from a target of DPoP-bound tokens,
 * with `acr_values` and/or `max_age`), as the step-up it asks for; undefined for any other answer.
 * Values that do not read cleanly are left out rather than passed on.
 */
export function stepUpChallenge(header: string | string[] | undefined): StepUp | undefined {
  const text = Array.isArray(header) ? header.join(', ') : header ?? ''
  if (!/\b(?:Bearer|DPoP)\b[^]*?\berror\s*=\s*"?insufficient_user_authentication"?/i.test(text)) return undefined
  const param = (name: string) => new RegExp(`\\b${name}\\s*=\\s*(?:"([^"]*)"|([^\\s,]+))`, 'i').exec(text)
  const acr = param('acr_values')
  const age = param('max_age')
  const acrValues = acr === null ? undefined : acr[1] ?? acr[2]
  const maxAge = age === null ? undefined : age[1] ?? age[2]
  return {
    ...(acrValues !== undefined && ACR_VALUES.test(acrValues) && acrValues.length <= 512 ? { acrValues } : {}),
    ...(maxAge !== undefined && /^(?:0|[1-9]\d{0,8})$/.test(maxAge) ? { maxAge: Number(maxAge) } : {}),
  }
}

/**
 * Why a session's claims fall short of what a route asks (its `acrValues`: the ID token's `acr`
 * must be one of them; its `maxAge`: `auth_time` at most that many seconds ago), or undefined.
 */
export function unmetStepUp(claims: Readonly<Record<string, unknown>>, route: { readonly acrValues: readonly string[] | undefined; readonly maxAge: number | undefined }, now: number): string | undefined {
  if (route.acrValues !== undefined && !route.acrValues.includes(String(claims['acr'] ?? ''))) return 'This route needs a stronger sign-in'
  if (route.maxAge !== undefined) {
    const authTime = claims['auth_time']
    if (typeof authTime !== 'number' || now - authTime > route.maxAge) return 'This route needs a recent sign-in'
  }
  return undefined
}
