import { randomUUID } from 'node:crypto'
import type { Middleware } from 'koa'
import type { Logger } from 'pino'
import type { AppState } from '../app-state.ts'
import type { Metrics } from '../../observability/metrics.ts'

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
      // The endpoint the router matched or the static route served: label values from a closed set.
      const route = ctx.state.route ?? (ctx as { _matchedRoute?: unknown })._matchedRoute
      metrics.observeRequest(typeof route === 'string' ? route : 'none', ctx.method, status, (performance.now() - started) / 1000)
      ctx.state.log.info({ method: ctx.method, path: ctx.path, status, ms: Math.round(performance.now() - started) }, 'request')
    }
  }
}
