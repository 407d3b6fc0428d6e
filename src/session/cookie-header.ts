/** Minimal RFC 6265 cookie handling: our values are iron seals, so no exotic encoding is needed. */

/** Longer `Cookie` headers are read as holding no cookie (Node refuses headers past 16 KiB anyway). */
const MAX_HEADER_LENGTH = 16_384

/**
 * Every cookie of a `Cookie` header, by name; the first of a repeated name wins, as browsers send the
 * most specific first. Names are trimmed; a value is kept exactly as sent (RFC 6265 §4.2.1: browsers
 * send `name=value` pairs joined by "; ", never whitespace around a value), so a seal with a
 * character added at either end is not the seal.
 */
export function parseCookieHeader(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>()
  if (header === undefined || header.length > MAX_HEADER_LENGTH) return cookies
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    const name = part.slice(0, eq).trim()
    if (name !== '' && !cookies.has(name)) cookies.set(name, part.slice(eq + 1))
  }
  return cookies
}

/** The value of cookie `name` as parseCookieHeader reads it (the first of a repeated name), without building the whole map. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header.length > MAX_HEADER_LENGTH || !header.includes(name)) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq >= 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1)
  }
  return undefined
}

/**
 * The `Cookie` header without the cookies `own` claims, or undefined when nothing is left. A
 * name is read as leniently as any server might (trimmed; a part without "=" is all name), so no
 * spelling of one of our names reaches a target.
 */
export function removeCookies(header: string | undefined, own: (name: string) => boolean): string | undefined {
  if (header === undefined) return undefined
  const kept = header.split(';').map((part) => part.trim()).filter((part) => {
    const eq = part.indexOf('=')
    return part !== '' && !own((eq < 0 ? part : part.slice(0, eq)).trim())
  })
  return kept.length === 0 ? undefined : kept.join('; ')
}

export interface CookieAttributes {
  readonly maxAge: number
  readonly sameSite: 'lax' | 'strict'
  readonly secure: boolean
}

/** A `Set-Cookie` value: always HttpOnly and Path=/ (what `__Host-` demands, and what we want anyway). */
export function serializeCookie(name: string, value: string, { maxAge, sameSite, secure }: CookieAttributes): string {
  const parts = [`${name}=${value}`, 'Path=/', 'HttpOnly', `SameSite=${sameSite === 'strict' ? 'Strict' : 'Lax'}`, `Max-Age=${maxAge}`]
  if (maxAge === 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT')
  if (secure) parts.push('Secure')
  return parts.join('; ')
}
