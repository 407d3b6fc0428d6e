import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Socket } from 'node:net'
import { CloakroomError } from '../errors.ts'
import { hasDotSegments, matchRoute, type Forwarder } from '../proxy/index.ts'
import type { Deps } from './deps.ts'
import { checkOrigin, type CsrfOptions } from './middleware/csrf.ts'
import { rejectUpgrade } from './middleware/problem.ts'
import { routeSession } from './require-session.ts'

/**
 * WebSocket upgrades on a route: the same session check as HTTP, and, since a browser cannot add
 * the CSRF header to a handshake, an Origin equal to publicUrl's origin instead (cross-site
 * WebSocket hijacking is otherwise trivial: browsers send cookies with cross-site handshakes).
 */
export function upgradeHandler(deps: Deps, forwarder: Forwarder, csrf: CsrfOptions) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy())
    void handle(req, socket, head).catch((error: unknown) => {
      if (!(error instanceof CloakroomError)) deps.log.error({ err: error }, 'upgrade failed')
      rejectUpgrade(socket as Socket, error)
    })
  }

  async function handle(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://upgrade.invalid').pathname
    const route = matchRoute(deps.config.routes, path)
    if (route?.target === undefined) throw new CloakroomError('not_found', 'No route matches this path')
    if (hasDotSegments(path)) throw new CloakroomError('bad_request', 'Dot segments are not allowed in paths')
    const session = await routeSession(route.token, req.headers.cookie, deps)
    if (route.csrf) checkOrigin(req.headers, csrf, true)
    forwarder.ws(req, socket, head, { route, accessToken: session?.tokens.accessToken },
      (error) => rejectUpgrade(socket as Socket, error))
  }
}
