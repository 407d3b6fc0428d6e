const BASE = new URL('http://cloakroom.invalid')
const ENCODED_SLASH_FIRST = /^\/(%2f|%5c)/i

/**
 * The post-login destination: a same-origin relative path, or "/" for anything else
 * (absolute and scheme-relative URLs, backslashes, control characters that browsers strip
 * and so could turn "/\t/evil" into "//evil", or anything that resolves off-origin).
 */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return '/'
  if (!value.startsWith('/') || value.startsWith('//')) return '/'
  if (/[\\\u0000-\u0020\u007f-\u009f]/.test(value)) return '/'
  // An encoded "//" or "/\" is harmless in a Location header, but a SPA router that decodes its
  // path before navigating would turn it into an open redirect: refuse it here too.
  if (ENCODED_SLASH_FIRST.test(value)) return '/'
  let url: URL
  try {
    url = new URL(value, BASE)
  } catch {
    return '/'
  }
  if (url.origin !== BASE.origin) return '/'
  const path = url.pathname + url.search + url.hash
  // Normalising ("/a/../%2F%2Fx") can bring back what the checks above refused in the raw value.
  return path.startsWith('/') && !path.startsWith('//') && !ENCODED_SLASH_FIRST.test(path) ? path : '/'
}
