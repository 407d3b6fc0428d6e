import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { createMemoryStore } from '../store/index.ts'
import { sampleSession } from '../store/store-contract.ts'
import { createSessionSockets } from './session-sockets.ts'
import { endSession } from '../session/end-session.ts'

/** A clock the test moves by hand (epoch milliseconds). */
function settableClock() {
  let now = Math.floor(Date.now() / 1000) * 1000
  return { now: () => now, advance: (seconds: number) => { now += seconds * 1000 } }
}

test('a session\'s WebSockets close when its end is published, when it is gone or timed out at a look-up; others stay open', async () => {
  const clock = settableClock()
  const store = createMemoryStore({ now: clock.now })
  const sockets = createSessionSockets({ store, now: clock.now, sweepMs: 3_600_000 })
  const at = clock.now() / 1000
  const [loggedOut, endedElsewhere, idle, alive] = [sampleSession(at), sampleSession(at), sampleSession(at, 60), sampleSession(at)]
  for (const session of [loggedOut, endedElsewhere, idle, alive]) await store.createSession(session)
  const open = (id: string) => {
    const socket = new PassThrough()
    sockets.track(id, socket)
    return socket
  }
  const [a, b, c, d] = [open(loggedOut.id), open(endedElsewhere.id), open(idle.id), open(alive.id)]

  await new Promise((resolve) => setImmediate(resolve)) // subscribed
  await endSession(store, loggedOut.id, 'logout')
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(a.destroyed, true, 'its end published (by any instance): closed at once')
  assert.equal(b.destroyed, false)

  await store.deleteSession(endedElsewhere.id) // gone, its end not heard (a store outage, say)
  clock.advance(61)
  await sockets.sweep()
  assert.equal(b.destroyed, true, 'gone without a word: closed by the look-up')
  assert.equal(c.destroyed, true, 'idle timeout passed: closed by the sweep')
  assert.equal(d.destroyed, false, 'a live session keeps its WebSocket')

  // A store outage is not the session's end.
  const down = createSessionSockets({ store: { ...store, getSession: () => Promise.reject(new Error('down')) }, now: clock.now, sweepMs: 3_600_000 })
  const e = new PassThrough()
  down.track(alive.id, e)
  await down.sweep()
  assert.equal(e.destroyed, false)
  for (const registry of [sockets, down]) registry.close()
  await store.close()
})
