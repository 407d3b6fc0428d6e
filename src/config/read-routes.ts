import { resolve } from 'node:path'
import type { RouteConfig, RouteTokenMode } from './types.ts'
import { matchesPrefix, readPlainPath } from './paths.ts'
import { readHttpUrl } from './urls.ts'
import { isAbsent, isMapping, itemPath, keyPath, mismatch, type Problems, readBoolean, readChoice, readDuration, readList, readMapping, readString, requireString } from './validate.ts'

/** The keys of each item of `routes`. */
export const ROUTE_KEYS: readonly string[] = ['path', 'target', 'static', 'token', 'stripPath', 'csrf', 'acrValues', 'maxAge', 'resource']
const TOKEN_MODES: readonly RouteTokenMode[] = ['user', 'optional', 'none']

/** Reads `routes`, in order (the first match wins); static folders resolve against `baseDir`. */
export function readRoutes(problems: Problems, value: unknown, baseDir: string): readonly RouteConfig[] {
  // No default: with no route, Cloakroom would log users in to nothing.
  if (isAbsent(value) || (Array.isArray(value) && value.length === 0)) {
    problems.push('routes: must list at least one route')
    return []
  }
  if (!Array.isArray(value)) {
    problems.push(mismatch('routes', 'a list of routes', value))
    return []
  }
  const list: readonly unknown[] = value
  const routes = list.map((item, index) => readRoute(problems, itemPath('routes', index), item, baseDir))
  checkReachable(problems, routes)
  return routes.filter((route) => route !== undefined)
}

function readRoute(problems: Problems, path: string, value: unknown, baseDir: string): RouteConfig | undefined {
  if (!isMapping(value)) {
    problems.push(mismatch(path, 'a mapping with a path and a target or static', value))
    return undefined
  }
  const route = readMapping(problems, path, value, ROUTE_KEYS)
  const routePath = readPlainPath(problems, keyPath(path, 'path'), route.path)
  const hasTarget = !isAbsent(route.target)
  const hasStatic = !isAbsent(route.static)
  if (hasTarget && hasStatic) problems.push(`${path}: must have a target or static, not both`)
  if (!hasTarget && !hasStatic) problems.push(`${path}: must have a target (an http(s) URL) or static (a folder)`)
  const target = hasTarget ? readHttpUrl(problems, keyPath(path, 'target'), route.target, { path: true, query: false }) : undefined
  const folder = hasStatic ? readString(problems, keyPath(path, 'static'), route.static, '') : ''
  const token = readChoice(problems, keyPath(path, 'token'), route.token, TOKEN_MODES, 'user')
  // A stronger or fresher sign-in is asked of a session; without one required, anyone would pass.
  for (const key of ['acrValues', 'maxAge'] as const) {
    if (!isAbsent(route[key]) && token !== 'user') problems.push(`${keyPath(path, key)}: needs token: user (the route has token: ${token}, so a request without a session would pass)`)
  }
  const resource = readResource(problems, keyPath(path, 'resource'), route.resource)
  if (resource !== undefined && (token === 'none' || !hasTarget)) problems.push(`${keyPath(path, 'resource')}: only for a route with a target and token: user or optional (no token goes anywhere else)`)
  return {
    // "/api/" and "/api" are one route; only the root keeps its slash.
    path: routePath === undefined || routePath === '/' ? routePath ?? '' : routePath.replace(/\/$/, ''),
    // The base path loses its trailing slash so the proxy can join it with the request path.
    target: target === undefined ? undefined : target.origin + target.pathname.replace(/\/$/, ''),
    static: folder === '' ? undefined : resolve(baseDir, folder),
    // default: user, so a route is protected unless it says otherwise
    token,
    // default: false, the upstream sees the path the browser asked for
    stripPath: readBoolean(problems, keyPath(path, 'stripPath'), route.stripPath, false),
    // default: true, a state-changing call needs the CSRF header
    csrf: readBoolean(problems, keyPath(path, 'csrf'), route.csrf, true),
    // default: none, any session will do
    acrValues: readAcrValues(problems, keyPath(path, 'acrValues'), route.acrValues),
    // default: none, however long ago the user signed in
    maxAge: isAbsent(route.maxAge) ? undefined : readDuration(problems, keyPath(path, 'maxAge'), route.maxAge, 0, false),
    // default: none, the login's access token
    resource,
  }
}

/** RFC 8707 §2: a resource is an absolute URI without a fragment (any scheme: Entra's are api://…). */
function readResource(problems: Problems, path: string, value: unknown): string | undefined {
  if (isAbsent(value)) return undefined
  const expected = 'an absolute URI such as https://api.example.com'
  const text = requireString(problems, path, value, expected)
  if (text === undefined) return undefined
  if (!URL.canParse(text) || /\s/.test(text)) problems.push(mismatch(path, expected, value))
  else if (text.includes('#')) problems.push(`${path}: must not have a fragment (RFC 8707 §2)`)
  return text
}

/** A non-empty list of acr values, each a token without spaces or quotes (it goes into acr_values). */
function readAcrValues(problems: Problems, path: string, value: unknown): readonly string[] | undefined {
  if (isAbsent(value)) return undefined
  const list = readList(problems, path, value, 'a list of acr values such as [urn:example:mfa]')
  if (list === undefined) return undefined
  if (list.length === 0) problems.push(`${path}: must name at least one acr value (or be left out)`)
  const values: string[] = []
  list.forEach((item, index) => {
    if (typeof item === 'string' && /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/.test(item)) values.push(item)
    else problems.push(mismatch(itemPath(path, index), 'an acr value without spaces or quotes', item))
  })
  return values
}

/** Refuses a route that an earlier one always matches first (matching is by prefix, on segment boundaries). */
function checkReachable(problems: Problems, routes: readonly (RouteConfig | undefined)[]): void {
  routes.forEach((route, index) => {
    if (route === undefined || route.path === '') return
    const earlier = routes.slice(0, index).findIndex((other) => other !== undefined && other.path !== '' && matchesPrefix(other.path, route.path))
    const other = routes[earlier]
    if (other === undefined) return
    problems.push(other.path === route.path
      ? `routes[${index}].path: duplicates routes[${earlier}].path (${JSON.stringify(route.path)})`
      : `routes[${index}].path: never reached, routes[${earlier}] (${JSON.stringify(other.path)}) comes first and matches it`)
  })
}
