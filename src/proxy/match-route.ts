import { matchesPrefix, type RouteConfig } from '../config/index.ts'

/** The first route whose prefix matches the path on a segment boundary (/api matches /api and /api/x, not /apix). */
export function matchRoute(routes: readonly RouteConfig[], path: string): RouteConfig | undefined {
  return routes.find((route) => matchesPrefix(route.path, path))
}

/**
 * True when a target that decodes "%2F" or "%5C" before routing (Go's net/http, Spring with
 * decoding on) would put `path` under another route than the raw path matches: "/api%2Fx" is
 * checked as route "/" but served as "/api/x". Such a path is refused, so an encoded slash cannot
 * move a request past its route's checks. Decoded up to three times (a target may decode twice).
 */
export function routeShiftsWhenDecoded(routes: readonly RouteConfig[], path: string): boolean {
  const route = matchRoute(routes, path)
  let current = path
  for (let round = 0; round < 3 && /%(2f|5c|25)/i.test(current); round++) {
    try {
      current = decodeURIComponent(current).replaceAll('\\', '/')
    } catch {
      return true
    }
    if (matchRoute(routes, current) !== route) return true
  }
  return false
}

/** The path (and query) the target sees: the route prefix removed when stripPath is set. */
export function upstreamPath(route: RouteConfig, pathAndQuery: string): string {
  if (!route.stripPath || route.path === '/') return pathAndQuery
  const rest = pathAndQuery.slice(route.path.length)
  return rest.startsWith('/') ? rest : `/${rest}`
}

/**
 * True for paths with "." or ".." segments: plain, percent-encoded, or with path parameters
 * ("..;x", which Tomcat, Jetty and Spring strip before normalising). A target may normalise
 * /api/../admin to /admin, escaping the route that matched it (and its base path), so such
 * paths are refused. An undecodable path counts as one.
 */
export function hasDotSegments(path: string): boolean {
  // Only a "." or a percent-escape can spell a dot segment: most API paths have neither.
  if (!path.includes('.') && !path.includes('%')) return false
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    return true
  }
  return decoded.split(/[/\\]/).some((segment) => {
    const name = segment.split(';', 1)[0]
    return name === '.' || name === '..'
  })
}
