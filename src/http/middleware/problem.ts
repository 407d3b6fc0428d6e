import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Middleware } from 'koa'
import type { Logger } from 'pino'
import { CloakroomError, type ErrorCode } from '../../errors.ts'
import type { AppState } from '../app-state.ts'

const STATUS = {
  unauthenticated: 401, session_expired: 401, step_up_required: 401, csrf_required: 403, origin_mismatch: 403,
  bad_request: 400, not_found: 404,
  idp_unavailable: 503, store_unavailable: 503, upstream_unavailable: 502, rate_limited: 429,
} as const satisfies Record<ErrorCode, number>

const TITLE = {
  unauthenticated: 'Unauthorized', session_expired: 'Session expired', step_up_required: 'Step-up authentication required', csrf_required: 'CSRF header required',
  origin_mismatch: 'Origin not allowed', bad_request: 'Bad request', not_found: 'Not found',
  idp_unavailable: 'Identity provider unavailable', store_unavailable: 'Session store unavailable',
  upstream_unavailable: 'Upstream unavailable', rate_limited: 'Too many requests',
} as const satisfies Record<ErrorCode, string>

export interface Problem {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** The RFC 9457 response for an error: a CloakroomError as its code says, anything else a bare 500. */
export function problemFor(error: unknown): Problem {
  const known = toCloakroomError(error)
  const status = known?.status ?? (known === undefined ? 500 : STATUS[known.code])
  const body = known === undefined
    ? { type: 'about:blank', title: 'Internal Server Error', status }
    : { type: 'about:blank', title: TITLE[known.code], status, code: known.code, detail: known.message, ...(known.loginUrl === undefined ? {} : { loginUrl: known.loginUrl }) }
  const headers: Record<string, string> = { 'content-type': 'application/problem+json', 'cache-control': 'no-store' }
  if (known?.retryAfter !== undefined) headers['retry-after'] = String(known.retryAfter)
  return { status, headers, body: JSON.stringify(body) }
}

/** Koa's own client errors (a malformed URL, a bad header) become bad_request; bugs stay unknown. */
function toCloakroomError(error: unknown): CloakroomError | undefined {
  if (error instanceof CloakroomError) return error
  const status = (error as { status?: unknown } | null)?.status
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return status === 404 ? new CloakroomError('not_found', 'Not found') : new CloakroomError('bad_request', 'Malformed request')
  }
  return undefined
}

/** An HTML page for browser navigations (login, callback): the problem named in words, nothing else. */
function problemPage(problem: Problem, detail: string): string {
  const text = escapeHtml(detail)
  return `<!doctype html><meta charset="utf-8"><title>Sign-in problem</title>` +
    `<h1>Sign-in problem</h1><p>${text}</p><p><a href="/">Back to the application</a></p>\n`
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Writes a problem on a bare Node response (the proxy's error path, outside Koa). */
export function writeProblem(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const problem = problemFor(error)
  res.writeHead(problem.status, { ...problem.headers, 'content-length': Buffer.byteLength(problem.body) })
  res.end(problem.body)
}

/** Answers a refused WebSocket upgrade with a problem and closes the socket. */
export function rejectUpgrade(socket: Socket, error: unknown): void {
  const problem = problemFor(error)
  const head = [`HTTP/1.1 ${problem.status} ${problem.status === 500 ? 'Internal Server Error' : 'Refused'}`,
    ...Object.entries(problem.headers).map(([k, v]) => `${k}: ${v}`),
    `content-length: ${Buffer.byteLength(problem.body)}`, 'connection: close', '', '']
  socket.end(head.join('\r\n') + problem.body)
}

/** The one place errors become responses. Unknown errors are bugs: logged with the request id, answered 500. */
export function problemMiddleware(): Middleware<AppState> {
  return async (ctx, next) => {
    try {
      await next()
    } catch (error) {
      const problem = problemFor(error)
      logProblem(ctx.state.log, error, problem)
      ctx.status = problem.status
      ctx.set(problem.headers)
      if (ctx.state.page === true) {
        ctx.type = 'text/html; charset=utf-8'
        ctx.body = problemPage(problem, error instanceof CloakroomError ? error.message : 'Something went wrong.')
      } else {
        ctx.body = problem.body
      }
    }
  }
}

/** Logs what an operator needs of an error answered with `problem`: a bug in full, a failure's cause. */
export function logProblem(log: Pick<Logger, 'error' | 'warn'>, error: unknown, problem: Problem): void {
  if (problem.status === 500) log.error({ err: error }, 'unhandled error')
  else if (error instanceof CloakroomError && error.cause !== undefined) {
    log.warn({ code: error.code, cause: describeCause(error.cause) }, error.message)
  }
}

/**
 * A cause for the log: its kind and message, and those of the causes behind it (a few levels: the
 * reason is often one deeper), never a request or response object that may hold secrets.
 */
export function describeCause(cause: unknown, depth = 3): string {
  if (!(cause instanceof Error)) return typeof cause
  const code = (cause as { code?: unknown }).code
  const own = `${cause.name}${typeof code === 'string' ? ` ${code}` : ''}: ${cause.message}`
  return depth > 1 && cause.cause instanceof Error ? `${own} ← ${describeCause(cause.cause, depth - 1)}` : own
}
