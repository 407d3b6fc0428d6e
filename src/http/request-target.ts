import { CloakroomError } from '../errors.ts'

const BASE = new URL('http://cloakroom.invalid')
// Read differently by WHATWG URL parsing, which the proxy applies to what it forwards: "\" is "/",
// "#" starts a fragment that is dropped, controls and spaces are stripped or encoded.
const UNSAFE = /[\\#\u0000-\u0020\u007f-\uffff]/
// What most API calls look like, and URL parsing provably leaves alone: no "%" (an encoded dot), no
// character the path or query encode sets hold, and (checked apart) no "." or ".." segment.
const PLAIN = /^\/[\w.~!$&'()*+,;=:@/-]*(?:\?[\w.~!$&()*+,;=:@/?%-]*)?$/
const DOT_SEGMENT = /\/\.\.?(?:[/?]|$)/

/** An origin-form request target ("/a/b?c"), split where its path ends; both parts undecoded. */
export interface RequestTarget {
  readonly path: string
  /** "" or the query with its "?". */
  readonly search: string
}

/**
 * Reads an origin-form request target the way the route check will use it, refusing (bad_request)
 * every target that a component after us could read differently, so the path the target receives is
 * the path that was checked (SPEC "API routes"). http-proxy-3 re-parses what it forwards with WHATWG
 * URL, which reads "/\x/admin" as host "x", path "/admin": a target must come back from that parse
 * unchanged (same host, same path, same query), which also refuses dot segments, fragments and
 * anything the parser would re-encode. Absolute-form ("http://host/…") and authority-form targets
 * are for forward proxies (RFC 9112 §3.2): refused too. The one change allowed is an empty query
 * ("/a?"), which the target receives as "/a".
 */
export function parseRequestTarget(target: string): RequestTarget {
  if (!target.startsWith('/') || target.startsWith('//') || UNSAFE.test(target)) throw malformed()
  if (PLAIN.test(target) && !DOT_SEGMENT.test(target)) return split(target)
  let url: URL
  try {
    url = new URL(target, BASE)
  } catch {
    throw malformed()
  }
  const parts = split(target)
  if (url.host !== BASE.host || url.pathname !== parts.path || url.search !== parts.search) throw malformed()
  return parts
}

function split(target: string): RequestTarget {
  const end = target.indexOf('?')
  const path = end === -1 ? target : target.slice(0, end)
  const search = end === -1 || end === target.length - 1 ? '' : target.slice(end)
  return { path, search }
}

function malformed(): CloakroomError {
  return new CloakroomError('bad_request', 'Malformed request target')
}
