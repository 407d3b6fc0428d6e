import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net'
import { startForwarding, type Forwarding } from './forward-fixture.ts'

// A kept-alive connection that the target closes just as the next request goes out on it (its idle
// timeout racing the proxy's reuse): the request never reached the target.

let target: TcpServer
let forwarding: Forwarding
let frontUrl: string
/** Requests the target answered, and connections it dropped on their second request. */
const seen = { answered: 0, dropped: 0 }

before(async () => {
  // Answers the first request of every connection (keep-alive), and drops the connection when a
  // second request arrives on it, without answering.
  target = createTcpServer((socket) => {
    let requests = 0
    socket.on('data', (chunk) => {
      if (!chunk.toString('latin1').includes('\r\n\r\n')) return
      if (++requests === 1) {
        seen.answered++
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok')
      } else {
        seen.dropped++
        socket.resetAndDestroy()
      }
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve))
  forwarding = await startForwarding((target.address() as AddressInfo).port)
  frontUrl = forwarding.url
})
after(() => {
  forwarding.close()
  target.close()
})

function call(method: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${frontUrl}/x`, { method, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(body)
  })
}

test('a request without a body that meets a kept-alive connection the target just dropped goes again, once, on a new one', async () => {
  const before = { ...seen }
  assert.equal(await call('GET'), 200)
  // The connection is kept; the next request goes out on it, and the target drops it.
  assert.equal(await call('GET'), 200)
  assert.equal(await call('DELETE'), 200)
  assert.equal(seen.dropped - before.dropped, 2, 'both later requests met a dropped connection first')
  assert.equal(seen.answered - before.answered, 3)
})

test('a request with a body is not sent twice: it gets 502', async () => {
  assert.equal(await call('GET'), 200)
  const before = { ...seen }
  assert.equal(await call('POST', '{"order":1}'), 502)
  assert.equal(seen.answered - before.answered, 0)
})
