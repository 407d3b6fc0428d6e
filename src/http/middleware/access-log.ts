import { randomUUID } from 'node:crypto'
import type { Middleware } from 'koa'
import type { Logger } from 'pino'
import type { AppState } from '../app-state.ts'
import type { Metrics } from '../metrics.ts'

/**
 * Gives each request an id and a child logger, and logs one line when it is done. The path is logged
 * without its query string: the callback's query holds the authorization code.
 */
export function accessLog(log: Logger, metrics: Metrics): Middleware<AppState> {
  return async (ctx, next) => {
    const reqId = randomUUID()
    const started = performance.now()
    ctx.state.log = log.child({ reqId })
    ctx.set('x-request-id', reqId)
    try {
      await next()
    } finally {
      const status = ctx.respond === false ? ctx.res.statusCode : ctx.status
      metrics.inc('cloakroom_http_responses_total', `${String(status).charAt(0)}xx`)
      ctx.state.log.info({ method: ctx.method, path: ctx.path, status, ms: Math.round(performance.now() - started) }, 'request')
    }
  }
}
