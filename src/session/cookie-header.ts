/** Minimal RFC 6265 cookie handling: our values are iron seals, so no exotic encoding is needed. */

/** Every cookie of a `Cookie` header; the first of a repeated name wins, as browsers send the most specific first. */
export function parseCookieHeader(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>()
  if (header === undefined || header.length > 16_384) return cookies
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    const name = part.slice(0, eq).trim()
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim())
  }
  return cookies
}

/** The `Cookie` header without the named cookies, or undefined when nothing is left. */
export function removeCookies(header: string | undefined, names: ReadonlySet<string>): string | undefined {
  if (header === undefined) return undefined
  const kept = header.split(';').filter((part) => {
    const eq = part.indexOf('=')
    return part.trim() !== '' && !names.has((eq < 0 ? part : part.slice(0, eq)).trim())
  })
  return kept.length === 0 ? undefined : kept.map((part) => part.trim()).join('; ')
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
