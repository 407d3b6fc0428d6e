import { matchesPrefix, type RouteConfig } from '../config/index.ts'

/** The first route whose prefix matches the path on a segment boundary (/api matches /api and /api/x, not /apix). */
export function matchRoute(routes: readonly RouteConfig[], path: string): RouteConfig | undefined {
  return routes.find((route) => matchesPrefix(route.path, path))
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
