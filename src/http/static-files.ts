import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import { extname, isAbsolute, join, relative, sep } from 'node:path'
import type { Context } from 'koa'
import { CloakroomError } from '../errors.ts'

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.map': 'application/json', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.gif': 'image/gif', '.ico': 'image/x-icon', '.webp': 'image/webp',
  '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2', '.woff': 'font/woff', '.wasm': 'application/wasm',
}

export interface StaticRequest {
  readonly method: string
  /** The path below the route's prefix, as received (percent-encoded), starting with `/`. */
  readonly path: string
  /** The Accept header, '' when absent. */
  readonly accept: string
}

/** What to look for: the file's segments below the folder, and whether a miss falls back to index.html. */
export interface StaticTarget {
  readonly segments: readonly string[]
  readonly fallback: boolean
}

/**
 * The pure half of a `static:` route (SPEC "API routes"): the file a request names, or a CloakroomError.
 * Only GET and HEAD; no segment starting with `.` (dotfiles, and `..` whatever its encoding), no NUL and
 * no backslash, which Windows would read as a separator; an undecodable path is a bad request. A miss
 * falls back to index.html only for page navigations, so a missing script is a 404, not an HTML page.
 */
export function staticTarget(request: StaticRequest): StaticTarget {
  if (request.method !== 'GET' && request.method !== 'HEAD') throw new CloakroomError('not_found', 'Not found')
  let decoded: string
  try {
    decoded = decodeURIComponent(request.path)
  } catch {
    throw new CloakroomError('bad_request', 'Malformed path')
  }
  const segments = decoded.split('/').filter((segment) => segment !== '')
  if (segments.some((segment) => segment.startsWith('.') || segment.includes('\0') || segment.includes('\\'))) {
    throw new CloakroomError('not_found', 'Not found')
  }
  const last = segments.at(-1) ?? ''
  return { segments, fallback: extname(last) === '' || acceptsHtml(request.accept) }
}

/**
 * Serves a `static:` route's folder: the regular file the path names, else index.html for a page
 * navigation, else 404. Symbolic links are resolved first and must stay inside the folder.
 */
export async function staticFiles(ctx: Context, folder: string, relativePath: string): Promise<void> {
  const target = staticTarget({ method: ctx.method, path: relativePath, accept: ctx.get('accept') })
  // Resolved per request, not cached: a deploy that swaps a `current -> release-N` link is picked up at once.
  const root = await realpath(folder).catch(() => undefined)
  const served = root === undefined ? undefined
    : (await fileInside(root, target.segments)) ?? (target.fallback ? await fileInside(root, ['index.html']) : undefined)
  if (served === undefined) throw new CloakroomError('not_found', 'Not found')
  ctx.type = TYPES[extname(served.path)] ?? 'application/octet-stream'
  ctx.length = served.size
  // index.html must be revalidated so a deploy is picked up; hashed assets could be cached longer by the SPA's own server.
  ctx.set('cache-control', served.path.endsWith('.html') ? 'no-cache' : 'public, max-age=300')
  ctx.set('x-content-type-options', 'nosniff')
  // Koa sends no body for HEAD and destroys the stream when the response finishes.
  ctx.body = createReadStream(served.path)
}

/**
 * The real path of a regular file under root; undefined when there is none (missing, a folder,
 * unreadable). A link that leads out of the folder, or to a dotfile in it, is refused outright:
 * not a miss that a navigation could turn into index.html.
 */
async function fileInside(root: string, segments: readonly string[]): Promise<{ path: string; size: number } | undefined> {
  // ENOENT, ENOTDIR, EACCES, ELOOP, ENAMETOOLONG: whatever the reason, there is no file to serve.
  const path = await realpath(join(root, ...segments)).catch(() => undefined)
  if (path === undefined) return undefined
  const inside = relative(root, path)
  if (isAbsolute(inside) || inside.split(sep).some((segment) => segment.startsWith('.'))) {
    throw new CloakroomError('not_found', 'Not found')
  }
  const info = await stat(path).catch(() => undefined)
  return info?.isFile() === true ? { path, size: info.size } : undefined
}

/** True when the Accept header lists text/html without q=0. A wildcard does not count: browsers send one for scripts and fetch(). */
function acceptsHtml(accept: string): boolean {
  return accept.split(',').some((range) => {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase())
    return type === 'text/html' && !params.some((param) => /^q=0(\.0{0,3})?$/.test(param))
  })
}
