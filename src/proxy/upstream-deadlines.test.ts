import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { ClientRequest } from 'node:http'
import { createUpstreamDeadlines, type Watched } from './upstream-deadlines.ts'

const CONNECT_MS = 100
const UPSTREAM_MS = 200
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * An attempt whose request and socket the test moves by hand (`connected`: it has a connected
 * socket already); it records when each deadline fired.
 */
function attempt({ connected = false } = {}) {
  const socket = { connecting: !connected, bytesRead: 0, bytesWritten: 0 }
  const request = { socket: connected ? socket : null as typeof socket | null, destroyed: false }
  const started = performance.now()
  const fired: string[] = []
  const watched: Watched & { request: ClientRequest } = {
    request: request as unknown as ClientRequest,
    connectExpired: () => fired.push(`connect after ${Math.round(performance.now() - started)}`),
    upstreamExpired: () => fired.push(`upstream after ${Math.round(performance.now() - started)}`),
    deadline: undefined,
  }
  return { socket, request, fired, watched, started }
}

test('an attempt with no socket, or a socket still connecting, expires once the connect deadline passes, never before', async () => {
  const deadlines = createUpstreamDeadlines(CONNECT_MS, UPSTREAM_MS)
  const waiting = attempt()
  const connecting = attempt()
  connecting.request.socket = connecting.socket
  deadlines.watch(waiting.watched)
  deadlines.watch(connecting.watched)
  await sleep(CONNECT_MS - 30)
  assert.deepEqual([waiting.fired, connecting.fired], [[], []])
  await sleep(100)
  for (const { fired } of [waiting, connecting]) {
    assert.equal(fired.length, 1)
    assert.match(fired[0] ?? '', /^connect after \d+$/)
  }
  deadlines.close()
})

test('once connected, only a socket quiet for the upstream timeout expires; bytes either way keep it alive', async () => {
  const deadlines = createUpstreamDeadlines(CONNECT_MS, UPSTREAM_MS)
  const busy = attempt({ connected: true })
  deadlines.watch(busy.watched)
  // Bytes read, then written, every 50 ms for twice the upstream timeout.
  for (let i = 0; i < 8; i++) {
    await sleep(50)
    if (i % 2 === 0) busy.socket.bytesRead += 10
    else busy.socket.bytesWritten += 10
  }
  assert.deepEqual(busy.fired, [])
  const quietFrom = performance.now()
  await sleep(UPSTREAM_MS + 150)
  assert.equal(busy.fired.length, 1)
  const after = Number(/^upstream after (\d+)$/.exec(busy.fired[0] ?? '')?.[1])
  assert.ok(after >= quietFrom - busy.started + UPSTREAM_MS - 1, `fired ${after} ms after start, quiet from ${Math.round(quietFrom - busy.started)} ms`)
  deadlines.close()
})

test('a request that is done (or destroyed), or an attempt no longer watched, never expires', async () => {
  const deadlines = createUpstreamDeadlines(CONNECT_MS, UPSTREAM_MS)
  const done = attempt({ connected: true })
  done.request.destroyed = true
  const unwatched = attempt()
  deadlines.watch(done.watched)
  deadlines.watch(unwatched.watched)
  deadlines.unwatch(unwatched.watched)
  deadlines.unwatch(unwatched.watched)
  await sleep(UPSTREAM_MS + CONNECT_MS + 100)
  assert.deepEqual([done.fired, unwatched.fired], [[], []])
  deadlines.close()
})
