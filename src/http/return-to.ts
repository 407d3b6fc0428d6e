const BASE = new URL('http://cloakroom.invalid')
// C0 and C1 controls: browsers strip tabs and newlines inside URLs, so "/\t/evil" reads as "//evil".
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
// How many rounds of percent-decoding a destination must survive; one that still changes after
// that many is refused, so no depth of encoding gets through.
const DECODE_ROUNDS = 4

/**
 * The post-login destination: a same-origin relative path, or "/" for anything else
 * (absolute and scheme-relative URLs, backslashes, control characters, or anything that resolves
 * off-origin), also once percent-decoded, again and again: a SPA router that decodes its path
 * before navigating would turn "/%09/evil" or "/%252F%252Fevil" into "//evil", an open redirect.
 * Ordinary encodings ("/a%20b?q=%2F") are kept as they are.
 */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return '/'
  if (!value.startsWith('/') || /[\\\u0020]/.test(value) || CONTROL.test(value)) return '/'
  let url: URL
  try {
    url = new URL(value, BASE)
  } catch {
    return '/'
  }
  // Checked after normalising: "/a/../%2F%2Fx" only shows what it is once the ".." is resolved.
  const path = url.pathname + url.search + url.hash
  return url.origin === BASE.origin && staysOnOrigin(path) ? path : '/'
}

/** True when `path` and each form repeated percent-decoding gives it are local paths. */
function staysOnOrigin(path: string): boolean {
  let form = path
  for (let round = 0; ; round++) {
    if (!isLocalPath(form)) return false
    const next = decodeOnce(form)
    if (next === form) return true
    if (round === DECODE_ROUNDS) return false
    form = next
  }
}

/** A path that starts with exactly one "/", holds no control character and resolves to a path on the origin. */
function isLocalPath(form: string): boolean {
  if (!form.startsWith('/') || /^\/[/\\]/.test(form) || CONTROL.test(form)) return false
  try {
    const url = new URL(form, BASE)
    // "/a/..//evil" stays on the origin here but leaves it as soon as its path is used as a URL.
    return url.origin === BASE.origin && !url.pathname.startsWith('//')
  } catch {
    return false
  }
}

/**
 * One round of decoding. Where decodeURIComponent gives up (a stray "%", invalid UTF-8), a lenient
 * decoder may still turn the ASCII escapes ("%2F", "%09") into characters, so those are decoded.
 */
function decodeOnce(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text.replace(/%([0-7][0-9a-f])/gi, (_escape, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
  }
}
