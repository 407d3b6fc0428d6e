import type { RouteConfig } from '../config/index.ts'

/** The first route whose prefix matches the path on a segment boundary (/api matches /api and /api/x, not /apix). */
export function matchRoute(routes: readonly RouteConfig[], path: string): RouteConfig | undefined {
  return routes.find((route) => route.path === '/' || path === route.path || path.startsWith(`${route.path}/`))
}

/** The path (and query) the target sees: the route prefix removed when stripPath is set. */
export function upstreamPath(route: RouteConfig, pathAndQuery: string): string {
  if (!route.stripPath || route.path === '/') return pathAndQuery
  const rest = pathAndQuery.slice(route.path.length)
  return rest.startsWith('/') ? rest : `/${rest}`
}

/**
 * True for paths with "." or ".." segments, plain or percent-encoded. A target may normalise
 * /api/../admin to /admin, escaping the route that matched it, so such paths are refused.
 */
export function hasDotSegments(path: string): boolean {
  let decoded: string
  try {
    decoded = decodeURIComponent(path)
  } catch {
    return true
  }
  return decoded.split(/[/\\]/).some((segment) => segment === '.' || segment === '..')
}
