import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { guardClientCache } from './client-cache-guard.ts'
import type { ConnectableRedisClient } from './redis-client.ts'

function clientCountingClears(): { client: ConnectableRedisClient; clears: () => number } {
  let clears = 0
  const client = { clientSideCache: { clear: () => { clears++ } } } as unknown as ConnectableRedisClient
  return { client, clears: () => clears }
}

test('a Redis that answers its PINGs keeps the cache', async () => {
  const { client, clears } = clientCountingClears()
  const guard = guardClientCache(client, async () => 'PONG', { intervalMs: 20 })
  await sleep(120)
  guard.stop()
  assert.equal(clears(), 0)
})

test('a Redis gone silent (a PING unanswered for an interval) clears the cache: its invalidations may be lost', async () => {
  const { client, clears } = clientCountingClears()
  const guard = guardClientCache(client, () => new Promise(() => {}), { intervalMs: 20 })
  await sleep(120)
  guard.stop()
  assert.ok(clears() >= 1, `cleared ${clears()} times`)
})

test('a PING that fails (the connection is down) clears the cache and reports it; once PINGs pass again, the cache is kept and that is reported', async () => {
  const { client, clears } = clientCountingClears()
  let up = false
  const reports: string[] = []
  const guard = guardClientCache(client, async () => { if (!up) throw new Error('The client is closed') }, {
    intervalMs: 20, onDown: (error) => reports.push(`down: ${(error as Error).message}`), onUp: () => reports.push('up'),
  })
  await sleep(70)
  const whileDown = clears()
  up = true
  await sleep(50)
  const settled = clears()
  await sleep(80)
  guard.stop()
  assert.ok(whileDown >= 1)
  assert.equal(clears(), settled)
  assert.equal(reports[0], 'down: The client is closed')
  assert.equal(reports.at(-1), 'up')
})
