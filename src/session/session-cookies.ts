import { createHash } from 'node:crypto'
import { sealData, unsealData } from 'iron-session'
import type { SessionConfig } from '../config/index.ts'
import { cookieValue, parseCookieHeader, serializeCookie } from './cookie-header.ts'

/** How long a pending login (and its login cookie) lives, in seconds. */
export const PENDING_LOGIN_TTL = 600

/**
 * How many login cookies a browser keeps: a new login expires the oldest beyond this. Logins that
 * start at the same moment (tabs of a restored browser session) each keep theirs, since none of their
 * requests carries another's; every login cookie goes when its login completes or expires.
 */
export const MAX_LOGIN_COOKIES = 4

/**
 * The cookies Cloakroom sets, all iron seals (AES-256-CBC + HMAC-SHA-256): the session cookie carries
 * only the session id; each login in flight has its own login cookie, named for its state, carrying
 * only the browser-binding value whose hash the pending login keeps.
 */
export interface SessionCookies {
  /** True for the session cookie's name and every login cookie's: never forwarded to a target, never set by one. */
  isOwnCookie(name: string): boolean
  sessionCookie(sessionId: string): Promise<string>
  clearSessionCookie(): string
  /** The session id, only from a session cookie that is exactly a seal this secret ring issued. */
  readSessionId(cookieHeader: string | undefined): Promise<string | undefined>
  /** The login cookie of the login with this state: SameSite=Lax whatever session.sameSite says, PENDING_LOGIN_TTL. */
  loginCookie(state: string, binding: string): Promise<string>
  clearLoginCookie(state: string): string
  /** The binding from the login cookie of the login with this state, if the request carries it intact. */
  readLoginBinding(cookieHeader: string | undefined, state: string): Promise<string | undefined>
  /** `Set-Cookie` values clearing the login cookies the request carries, all but the `keep` newest intact ones. */
  clearLoginCookies(cookieHeader: string | undefined, keep: number): string[]
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
 * Of the login cookies a request carries, the names to clear so that at most `keep` remain: every one
 * that is not a seal's exact form or has expired, then the oldest. Age is read from the seal's
 * expiry, which is in clear text: no unsealing (one forging it could only reorder which of this
 * browser's own logins is given up).
 */
export function loginCookiesToClear(carried: Iterable<readonly [string, string]>, keep: number, now: number): string[] {
  const clear: string[] = []
  const live: { readonly name: string; readonly expiry: number }[] = []
  for (const [name, value] of carried) {
    const expiry = exactSealExpiry(value)
    if (expiry === undefined || expiry <= now) clear.push(name)
    else live.push({ name, expiry })
  }
  live.sort((a, b) => b.expiry - a.expiry)
  return [...clear, ...live.slice(Math.max(keep, 0)).map(({ name }) => name)]
}

/**
 * Unsealing costs about half a millisecond of CPU (iron derives two keys per seal), more than the
 * rest of a proxied request. Session seals that opened are remembered for a minute, by their text
 * (only the exact form gets here, so one seal has one text), up to this many; a cached session id
 * still has to exist in the store. Login seals are read once per login and never cached.
 */
const UNSEALED_CACHE_SIZE = 10_000
const UNSEALED_CACHE_MS = 60_000

export function createSessionCookies(session: SessionConfig, secure: boolean, now: () => number = Date.now): SessionCookies {
  const [first] = session.secrets
  if (first === undefined) throw new Error('session.secrets must not be empty')
  const sealing = { [passwordId(first)]: first }
  const unsealing = Object.fromEntries(session.secrets.map((secret) => [passwordId(secret), secret]))
  // Before login cookies were per login there was one, named this: still ours, cleared when seen.
  const legacyLoginName = `${session.cookieName}-login`
  const loginStem = `${legacyLoginName}-`
  const loginName = (state: string) => loginStem + createHash('sha256').update(state).digest('base64url').slice(0, 10)
  const isLoginCookie = (name: string) => name.startsWith(loginStem) || name === legacyLoginName
  const isOwnCookie = (name: string) => name === session.cookieName || isLoginCookie(name)

  async function open(sealed: string | undefined, field: string, ttl: number): Promise<string | undefined> {
    if (sealed === undefined || exactSealExpiry(sealed) === undefined) return undefined
    // A tampered, expired or foreign seal unseals to {}: simply no session.
    const data: Record<string, unknown> = await unsealData(sealed, { password: unsealing, ttl })
    const value = data[field]
    return typeof value === 'string' ? value : undefined
  }

  const unsealed = new Map<string, { readonly value: string; readonly until: number }>()
  const clearLogin = (name: string) => serializeCookie(name, '', { maxAge: 0, sameSite: 'lax', secure })

  return {
    isOwnCookie,

    async sessionCookie(sessionId) {
      const sealed = await sealData({ sid: sessionId }, { password: sealing, ttl: session.absoluteTimeout })
      return serializeCookie(session.cookieName, sealed, { maxAge: session.absoluteTimeout, sameSite: session.sameSite, secure })
    },
    clearSessionCookie: () => serializeCookie(session.cookieName, '', { maxAge: 0, sameSite: session.sameSite, secure }),

    async readSessionId(header) {
      const sealed = cookieValue(header, session.cookieName)
      if (sealed === undefined) return undefined
      const cached = unsealed.get(sealed)
      if (cached !== undefined && now() < cached.until) return cached.value
      const value = await open(sealed, 'sid', session.absoluteTimeout)
      if (value === undefined) return undefined
      unsealed.delete(sealed)
      if (unsealed.size >= UNSEALED_CACHE_SIZE) unsealed.delete(unsealed.keys().next().value ?? '')
      unsealed.set(sealed, { value, until: now() + UNSEALED_CACHE_MS })
      return value
    },

    // Lax whatever session.sameSite says: the IdP's redirect back is a cross-site navigation,
    // and a Strict cookie would not come with it.
    async loginCookie(state, binding) {
      const sealed = await sealData({ binding }, { password: sealing, ttl: PENDING_LOGIN_TTL })
      return serializeCookie(loginName(state), sealed, { maxAge: PENDING_LOGIN_TTL, sameSite: 'lax', secure })
    },
    clearLoginCookie: (state) => clearLogin(loginName(state)),
    readLoginBinding: (header, state) => open(cookieValue(header, loginName(state)), 'binding', PENDING_LOGIN_TTL),

    clearLoginCookies(header, keep) {
      const carried = [...parseCookieHeader(header)].filter(([name]) => isLoginCookie(name))
      const legacy = carried.filter(([name]) => name === legacyLoginName).map(([name]) => name)
      const current = carried.filter(([name]) => name !== legacyLoginName)
      return [...legacy, ...loginCookiesToClear(current, keep, now())].map(clearLogin)
    },
  }
}
