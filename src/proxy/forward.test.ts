import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startForwarding, type Forwarding } from './forward-fixture.ts'

let target: Server
let forwarding: Forwarding
let frontUrl: string

before(async () => {
  // A target that holds every request under /hold and answers the rest at once.
  target = createServer((req, res) => {
    if (req.url === '/own-id') res.setHeader('x-request-id', 'the-target-s-own')
    if (req.url?.startsWith('/hold') !== true) res.end('fast')
  })
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve))
  forwarding = await startForwarding((target.address() as AddressInfo).port, {
    timeouts: { upstreamConnect: 1, upstream: 30 },
    maxSocketsPerTarget: 2,
    options: { requestId: 'cloakroom-request-1' },
  })
  frontUrl = forwarding.url
})
after(() => {
  forwarding.close()
  target.closeAllConnections()
  target.close()
})

function get(path: string, timeoutMs: number): Promise<{ status: number; ms: number; requestId: string | undefined }> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const req = request(`${frontUrl}${path}`, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Date.now() - started, requestId: res.headers['x-request-id'] as string | undefined }))
    })
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}

test('a request waiting for one of the target\'s connections gets 504 once upstreamConnect passes, never waits without end', async () => {
  // Two stalled requests hold both connections the forwarder may open to this target.
  const holders = [request(`${frontUrl}/hold/1`, { agent: false }), request(`${frontUrl}/hold/2`, { agent: false })]
  for (const holder of holders) holder.on('error', () => {}).end()
  await new Promise((resolve) => setTimeout(resolve, 200))
  const queued = await get('/fast', 5000)
  assert.equal(queued.status, 504)
  assert.equal(queued.requestId, 'cloakroom-request-1', 'a problem answer carries the request id too')
  assert.ok(queued.ms >= 900 && queued.ms < 3000, `answered after ${queued.ms} ms`)
  for (const holder of holders) holder.destroy()
  // Once the stalled clients are gone their connections are free again.
  await new Promise((resolve) => setTimeout(resolve, 200))
  assert.equal((await get('/fast', 5000)).status, 200)
})

test('the browser gets X-Request-Id with the target\'s answer, unless the target sent its own', async () => {
  assert.equal((await get('/fast', 5000)).requestId, 'cloakroom-request-1')
  assert.equal((await get('/own-id', 5000)).requestId, 'the-target-s-own')
})
