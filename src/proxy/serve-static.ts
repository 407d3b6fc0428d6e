import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { extname, join, resolve, sep } from 'node:path'
import type { Context } from 'koa'
import { CloakroomError } from '../errors.ts'

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.map': 'application/json', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.gif': 'image/gif', '.ico': 'image/x-icon', '.webp': 'image/webp',
  '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2', '.woff': 'font/woff', '.wasm': 'application/wasm',
}

/**
 * Serves a folder for a `static:` route: the file the path names, or index.html for any other GET
 * (the SPA's client-side routes). Paths are resolved inside the folder; nothing outside it is served.
 */
export async function serveStatic(ctx: Context, folder: string, relativePath: string): Promise<void> {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') throw new CloakroomError('not_found', 'Not found')
  const root = resolve(folder)
  let decoded: string
  try {
    decoded = decodeURIComponent(relativePath)
  } catch {
    throw new CloakroomError('bad_request', 'Malformed path')
  }
  const file = resolve(join(root, decoded))
  const inside = file === root || file.startsWith(root + sep)
  const found = inside && !decoded.includes('\0') ? await regularFile(file) : undefined
  const served = found ?? (await regularFile(join(root, 'index.html')))
  if (served === undefined) throw new CloakroomError('not_found', 'Not found')
  ctx.type = TYPES[extname(served.path)] ?? 'application/octet-stream'
  ctx.length = served.size
  // index.html must be revalidated so a deploy is picked up; hashed assets could be cached longer by the SPA's own server.
  ctx.set('cache-control', served.path.endsWith('.html') ? 'no-cache' : 'public, max-age=300')
  ctx.set('x-content-type-options', 'nosniff')
  // Koa sends no body for HEAD and destroys the stream when the response finishes.
  ctx.body = createReadStream(served.path)
}

async function regularFile(path: string): Promise<{ path: string; size: number } | undefined> {
  try {
    const info = await stat(path)
    return info.isFile() ? { path, size: info.size } : undefined
  } catch {
    return undefined
  }
}
