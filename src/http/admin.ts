import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { CloakroomError } from '../errors.ts'
import type { HostPort } from '../config/index.ts'
import type { SessionRecord } from '../store/index.ts'
import type { Deps } from './deps.ts'
import { logProblem, problemFor, writeProblem } from './middleware/problem.ts'
import { parseRequestTarget } from './request-target.ts'
import { describeSession } from './session-list.ts'
import { terminate } from './terminate.ts'

/** Equal in constant time, whatever the lengths: both sides hashed first. */
function sameToken(given: string, token: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest()
  return timingSafeEqual(digest(given), digest(token))
}

/** The sessions a query names: `sub` (all of that subject's) or `sid` (the one with that public sid). */
async function selected(deps: Deps, query: URLSearchParams): Promise<SessionRecord[]> {
  const [sub, sid] = [query.get('sub'), query.get('sid')]
  if ((sub === null) === (sid === null) || sub === '' || sid === '') throw new CloakroomError('bad_request', 'Name either sub or sid')
  if (sub !== null) return deps.sessions.ofSubject(sub)
  const at = Math.floor(deps.now() / 1000)
  const found = await Promise.all((await deps.store.sessionsOf({ sid: sid ?? '' })).map((id) => deps.store.getSession(id)))
  return found.filter((session): session is SessionRecord => session !== undefined && Math.min(session.idleExpiresAt, session.absoluteExpiresAt) > at)
}

/**
 * The admin API (SPEC "Admin API"), on its own listener, for incident response: a subject's sessions
 * listed (`GET /admin/sessions?sub=`) and ended (`DELETE /admin/sessions?sub=` or `?sid=`: each one's
 * refresh token revoked, its streams told `revoked`, its WebSockets closed). Every call needs
 * `Authorization: Bearer <admin.token>` (401 otherwise) and is logged with its outcome, never with the
 * token.
 */
export async function serveAdmin(deps: Deps, listen: HostPort, token: string): Promise<Server> {
  const log = deps.log.child({ component: 'admin' })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<{ outcome: string; ended?: number }> {
    // The scheme name is case-insensitive (RFC 9110 §11.1); the token is compared in constant time.
    const [, scheme = '', presented = ''] = /^(\S+) +(\S*)$/.exec(req.headers['authorization'] ?? '') ?? []
    if (scheme.toLowerCase() !== 'bearer' || !sameToken(presented, token)) {
      res.setHeader('www-authenticate', 'Bearer realm="cloakroom-admin"')
      throw new CloakroomError('unauthenticated', 'The admin token is missing or wrong')
    }
    const { path, search } = parseRequestTarget(req.url ?? '/')
    if (path !== '/admin/sessions') throw new CloakroomError('not_found', 'No such endpoint')
    const query = new URLSearchParams(search)
    if (req.method === 'GET') {
      const sessions = await selected(deps, query)
      answer(res, 200, { sessions: sessions.map(describeSession) })
      return { outcome: 'listed' }
    }
    if (req.method === 'DELETE') {
      const sessions = await selected(deps, query)
      await Promise.all(sessions.map((session) => terminate(deps, log, session, 'revoked', 'admin')))
      answer(res, 200, { ended: sessions.length })
      return { outcome: 'ended', ended: sessions.length }
    }
    res.setHeader('allow', 'GET, DELETE')
    throw new CloakroomError('bad_request', 'Only GET and DELETE')
  }

  const server = createServer((req, res) => {
    handle(req, res).then(({ outcome, ended }) => {
      log.info({ event: 'admin', method: req.method, query: queryShown(req.url), outcome, ...(ended === undefined ? {} : { ended }) }, 'admin call')
    }, (error: unknown) => {
      const problem = problemFor(error)
      logProblem(log, error, problem)
      log.info({ event: 'admin', method: req.method, query: queryShown(req.url), outcome: 'refused', status: problem.status }, 'admin call')
      writeProblem(res, error)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => resolve())
  })
  return server
}

function answer(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) }).end(text)
}

/** Which selector a call used, for the log: the subject or sid is an incident responder's own input. */
function queryShown(url: string | undefined): string {
  const query = new URLSearchParams(url?.split('?')[1] ?? '')
  return [...query.keys()].filter((key) => key === 'sub' || key === 'sid').map((key) => `${key}=${query.get(key) ?? ''}`).join('&').slice(0, 200)
}
