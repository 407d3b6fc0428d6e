import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Middleware } from 'koa'
import type { AppState } from './app-state.ts'

/** The browser helper, from the package's client/ folder (beside src/ and dist/ alike). */
const SOURCE = readFileSync(new URL('../../client/cloakroom.js', import.meta.url))
const ETAG = `"${createHash('sha256').update(SOURCE).digest('base64url').slice(0, 16)}"`

/** GET /auth/client.js: the browser helper (an ES module); revalidated each load, 304 while unchanged. */
export function clientScriptHandler(): Middleware<AppState> {
  return (ctx) => {
    ctx.set('cache-control', 'no-cache')
    ctx.set('etag', ETAG)
    if (ctx.get('if-none-match') === ETAG) {
      ctx.status = 304
      return
    }
    ctx.type = 'text/javascript; charset=utf-8'
    ctx.body = SOURCE
  }
}
