/**
 * "The floor": the least a token-adding proxy can do with the same proxy library. A few lines of
 * node:http + http-proxy-3 that add one fixed `Authorization: Bearer` header and forward every
 * request to one target over a keep-alive agent: no routing, no session, no cookie, no checks.
 * bench/run.ts compares Cloakroom with it; runnable alone:
 *   node bench/floor.ts <port> <target-url> [token]     (or FLOOR_PORT, FLOOR_TARGET, FLOOR_TOKEN)
 * Prints `listening <port>` once it accepts connections.
 */
import { Agent, createServer } from 'node:http'
import { ProxyServer } from 'http-proxy-3'

const port = Number(process.argv[2] ?? process.env.FLOOR_PORT ?? 0)
const target = process.argv[3] ?? process.env.FLOOR_TARGET
const token = process.argv[4] ?? process.env.FLOOR_TOKEN ?? 'floor-fixed-token'
if (target === undefined) throw new Error('usage: node bench/floor.ts <port> <target-url> [token]')

// The same agent settings as Cloakroom's forwarder (src/proxy/forward.ts).
const agent = new Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 64, scheduling: 'lifo' })
const proxy = new ProxyServer({ target, agent, changeOrigin: true, headers: { authorization: `Bearer ${token}` } })
proxy.on('error', (_error, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502).end()
  else res.destroy()
})
const server = createServer((req, res) => { proxy.web(req, res) })
server.listen(port, '127.0.0.1', () => {
  const address = server.address()
  console.log(`listening ${typeof address === 'object' && address !== null ? address.port : port}`)
})
process.on('SIGTERM', () => {
  server.closeAllConnections()
  server.close(() => process.exit(0))
})
