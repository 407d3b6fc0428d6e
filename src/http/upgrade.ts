import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Socket } from 'node:net'
import { CloakroomError } from '../errors.ts'
import { credentialsFor } from '../session/index.ts'
import { clientAddress, type Forwarder } from '../proxy/index.ts'
import { authorizeRoute } from './authorize-route.ts'
import type { Deps } from './deps.ts'
import type { CsrfOptions } from './middleware/csrf.ts'
import { rejectUpgrade } from './middleware/problem.ts'
import { addressKey } from './middleware/rate-limit.ts'

/**
 * WebSocket upgrades on a route: the gate HTTP requests pass (authorizeRoute), then the proxy.
 * `sockets` collects the upgraded connections, which the server's drain must end itself.
 */
export function upgradeHandler(deps: Deps, forwarder: Forwarder, csrf: CsrfOptions, sockets: Set<Duplex>) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    authorizeRoute({ url: req.url ?? '/', headers: req.headers, kind: 'websocket' }, deps, csrf).then(({ route, session }) => {
      const release = deps.inFlight.take(session === undefined ? `address:${addressKey(clientAddress(req.headers['x-forwarded-for'], req.socket.remoteAddress ?? '', deps.config.trustProxy))}` : `session:${session.id}`)
      socket.once('close', release)
      if (session !== undefined) deps.sessionSockets.track(session.id, socket)
      forwarder.ws(req, socket, head, { route, ...credentialsFor(session, route.resource) }, (error) => rejectUpgrade(socket as Socket, error))
    }).catch((error: unknown) => {
      if (!(error instanceof CloakroomError)) deps.log.error({ err: error }, 'upgrade failed')
      rejectUpgrade(socket as Socket, error)
    })
  }
}
