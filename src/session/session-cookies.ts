import { createHash } from 'node:crypto'
import { sealData, unsealData } from 'iron-session'
import type { SessionConfig } from '../config/index.ts'
import { parseCookieHeader, serializeCookie } from './cookie-header.ts'

/** How long a pending login (and its browser-binding cookie) lives. */
export const PENDING_LOGIN_TTL = 600

/**
 * The two cookies Cloakroom sets, both iron seals (AES-256-CBC + HMAC-SHA-256): the session cookie
 * carries only the session id, the login cookie only the browser-binding value of logins in flight.
 */
export interface SessionCookies {
  /** Names of the cookies that are ours, which are never forwarded upstream. */
  readonly names: ReadonlySet<string>
  /** True for the name of a cookie of ours: never forwarded to a target, never set by one. */
  isOwnCookie(name: string): boolean
  sessionCookie(sessionId: string): Promise<string>
  clearSessionCookie(): string
  readSessionId(cookieHeader: string | undefined): Promise<string | undefined>
  loginCookie(binding: string): Promise<string>
  clearLoginCookie(): string
  readLoginBinding(cookieHeader: string | undefined): Promise<string | undefined>
}

/**
 * iron-session seals with the highest-numbered password. Numbering each secret by its own hash
 * (instead of its position) keeps ids stable when secrets are prepended or retired, and sealing with a
 * one-entry map makes the first secret the sealing one whatever its number.
 */
function passwordId(secret: string): string {
  return String(createHash('sha256').update(secret).digest().readUIntBE(0, 6))
}

/** What a pending login stores of its browser binding: a hash, so reading the store does not yield the cookie's content. */
export function bindingHash(binding: string): string {
  return createHash('sha256').update(binding).digest('hex')
}

/** A sane upper bound: a seal of a session id is about 250 characters; anything far larger is junk. */
const MAX_SEAL_LENGTH = 1024

/**
 * A seal exactly as sealData writes it: `Fe26.2*id*salt*iv*ciphertext*expiry*salt*hmac~2`, hex salts,
 * unpadded base64url. iron-session ignores whatever follows the first "~", and iron-webcrypto decodes
 * the HMAC forgivingly (whitespace, "+" and "/", unused trailing bits, padding): each of those spells
 * a different text that opens the same seal. Only this form is read; the HMAC covers the rest.
 */
const SEAL = /^Fe26\.2\*(?:0|[1-9][0-9]*)\*[0-9a-f]{64}\*([\w-]{22})\*([\w-]+)\*([1-9][0-9]{0,15})\*[0-9a-f]{64}\*([\w-]{43})~2$/

const canonicalBase64url = (text: string) => Buffer.from(text, 'base64url').toString('base64url') === text

/** The expiry (epoch ms) of a text that is exactly a seal's form, else undefined. Says nothing of its authenticity. */
export function exactSealExpiry(text: string): number | undefined {
  if (text.length > MAX_SEAL_LENGTH) return undefined
  const [, iv = '', ciphertext = '', expiry = '', hmac = ''] = SEAL.exec(text) ?? []
  if (hmac === '' || ![iv, ciphertext, hmac].every(canonicalBase64url)) return undefined
  // AES-CBC writes whole 16-byte blocks.
  if (Buffer.byteLength(ciphertext, 'base64url') % 16 !== 0) return undefined
  return Number(expiry)
}

/**
 * Unsealing costs about half a millisecond of CPU (iron derives two keys per seal), more than the
 * rest of a proxied request. Seals that opened are remembered for a minute, by their text (only the
 * exact form gets here, so one seal has one text), up to this many; a cached session id still has to
 * exist in the store.
 */
const UNSEALED_CACHE_SIZE = 10_000
const UNSEALED_CACHE_MS = 60_000

export function createSessionCookies(session: SessionConfig, secure: boolean, now: () => number = Date.now): SessionCookies {
  const [first] = session.secrets
  if (first === undefined) throw new Error('session.secrets must not be empty')
  const sealing = { [passwordId(first)]: first }
  const unsealing = Object.fromEntries(session.secrets.map((secret) => [passwordId(secret), secret]))
  const loginName = `${session.cookieName}-login`

  const unsealed = new Map<string, { readonly value: string; readonly until: number }>()

  async function unsealField(cookieHeader: string | undefined, name: string, field: string, ttl: number): Promise<string | undefined> {
    const sealed = parseCookieHeader(cookieHeader).get(name)
    if (sealed === undefined || exactSealExpiry(sealed) === undefined) return undefined
    const key = `${field}\0${sealed}`
    const cached = unsealed.get(key)
    if (cached !== undefined && now() < cached.until) return cached.value
    // A tampered, expired or foreign seal unseals to {}: simply no session.
    const data: Record<string, unknown> = await unsealData(sealed, { password: unsealing, ttl })
    const value = data[field]
    if (typeof value !== 'string') return undefined
    if (unsealed.size >= UNSEALED_CACHE_SIZE) unsealed.delete(unsealed.keys().next().value ?? '')
    unsealed.set(key, { value, until: now() + UNSEALED_CACHE_MS })
    return value
  }

  const names = new Set([session.cookieName, loginName])
  return {
    names,
    isOwnCookie: (name) => names.has(name),

    async sessionCookie(sessionId) {
      const sealed = await sealData({ sid: sessionId }, { password: sealing, ttl: session.absoluteTimeout })
      return serializeCookie(session.cookieName, sealed, { maxAge: session.absoluteTimeout, sameSite: session.sameSite, secure })
    },
    clearSessionCookie: () => serializeCookie(session.cookieName, '', { maxAge: 0, sameSite: session.sameSite, secure }),
    readSessionId: (header) => unsealField(header, session.cookieName, 'sid', session.absoluteTimeout),

    // Lax whatever session.sameSite says: the IdP's redirect back is a cross-site navigation,
    // and a Strict cookie would not come with it.
    async loginCookie(binding) {
      const sealed = await sealData({ binding }, { password: sealing, ttl: PENDING_LOGIN_TTL })
      return serializeCookie(loginName, sealed, { maxAge: PENDING_LOGIN_TTL, sameSite: 'lax', secure })
    },
    clearLoginCookie: () => serializeCookie(loginName, '', { maxAge: 0, sameSite: 'lax', secure }),
    readLoginBinding: (header) => unsealField(header, loginName, 'binding', PENDING_LOGIN_TTL),
  }
}
