import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { startStack, type Stack } from './fixtures/stack.ts'
import { MID_BODY } from './fixtures/echo-upstream.ts'

const CSRF = { 'x-csrf': '1' }
/** The stack's `timeouts.upstream`. */
const UPSTREAM_TIMEOUT_MS = 2000

let stack: Stack
let cookie: string
before(async () => {
  stack = await startStack()
  const { client } = await stack.login()
  cookie = `cloakroom=${client.cookies(stack.cloakroom.url).get('cloakroom')}`
})
after(async () => { await stack.stop() })

const api = (path: string) => fetch(`${stack.cloakroom.url}${path}`, { headers: { ...CSRF, cookie } })

async function problemCode(response: Response): Promise<string> {
  assert.equal(response.headers.get('content-type'), 'application/problem+json')
  const body = (await response.json()) as { status: number; code: string; type: string }
  assert.equal(body.status, response.status)
  assert.equal(body.type, 'about:blank')
  return body.code
}

/** The next request on the same route is served normally, with the session's token. */
async function routeStillServes(): Promise<void> {
  const response = await api('/api/after-fault')
  assert.equal(response.status, 200)
  const seen = (await response.json()) as { url: string; headers: Record<string, string> }
  assert.equal(seen.url, '/api/after-fault')
  assert.match(seen.headers['authorization'] ?? '', /^Bearer .+/)
}

/**
 * Reads a body to its end, a failure, or `withinMs`, whichever comes first: what the client got,
 * and how the read ended ('complete', 'aborted' or 'hung').
 */
async function readBody(response: Response, withinMs: number): Promise<{ bytes: number; ended: 'complete' | 'aborted' | 'hung'; error?: string }> {
  const reader = response.body?.getReader()
  assert.ok(reader)
  let bytes = 0
  const deadline = Date.now() + withinMs
  for (;;) {
    const left = deadline - Date.now()
    const next = await Promise.race([
      reader.read().then((chunk) => ({ chunk }), (error: unknown) => ({ error })),
      sleep(Math.max(left, 0)).then(() => ({ timeout: true as const })),
    ])
    if ('timeout' in next) {
      await reader.cancel().catch(() => {})
      return { bytes, ended: 'hung' }
    }
    if ('error' in next) {
      const error = next.error as Error & { cause?: { code?: string; message?: string } }
      return { bytes, ended: 'aborted', error: `${error.name}: ${error.message}${error.cause === undefined ? '' : ` (${error.cause.code ?? ''} ${error.cause.message ?? ''})`}` }
    }
    if (next.chunk.done) return { bytes, ended: 'complete' }
    bytes += next.chunk.value.byteLength
  }
}

describe('a target that fails mid-exchange', () => {
  test('a reset before any response header → 502 upstream_unavailable, every time; the route then serves normally', async (t) => {
    const statuses: number[] = []
    const codes: string[] = []
    for (let i = 0; i < 5; i++) {
      const response = await api(`/api/reset-before-headers?i=${i}`)
      statuses.push(response.status)
      codes.push(await problemCode(response))
    }
    t.diagnostic(`reset before headers, 5 calls: statuses ${statuses.join(',')}, codes ${[...new Set(codes)].join(',')}`)
    assert.deepEqual(statuses, [502, 502, 502, 502, 502])
    assert.deepEqual(codes, Array(5).fill('upstream_unavailable'))
    assert.equal(stack.upstream.seen.filter((seen) => seen.url.startsWith('/api/reset-before-headers')).length, 5, 'each call reached the target once (no retry of a failed request)')
    await routeStillServes()
  })

  for (const [name, query] of [['chunked body', ''], ['Content-Length body', '?length=1']] as const) {
    test(`a reset after the headers (${name}) → the client sees the 200 and a truncated, aborted body, not a hang; the route then serves normally`, async (t) => {
      const started = Date.now()
      const response = await api(`/api/reset-mid-body${query}`)
      assert.equal(response.status, 200)
      assert.equal(response.headers.get('content-type'), 'application/json')
      if (query !== '') assert.equal(response.headers.get('content-length'), String(MID_BODY.promised))
      const read = await readBody(response, 5000)
      const elapsed = Date.now() - started
      t.diagnostic(`reset mid-body (${name}): status ${response.status}, ${read.bytes} of ${query === '' ? '?' : MID_BODY.promised} bytes, read ${read.ended}${read.error === undefined ? '' : ` with ${read.error}`}, after ${elapsed} ms`)
      assert.equal(read.ended, 'aborted', 'the truncated body must end in an error, not look complete and not hang')
      assert.equal(read.bytes, MID_BODY.sent.length, 'the client got exactly the bytes the target sent before the reset')
      assert.ok(elapsed < 3000, `the abort reached the client after ${elapsed} ms`)
      await routeStillServes()
    })
  }

  test(`a target that never answers → 504 upstream_unavailable after timeouts.upstream (${UPSTREAM_TIMEOUT_MS} ms)`, async (t) => {
    const started = Date.now()
    const response = await api('/api/slow')
    const elapsed = Date.now() - started
    assert.equal(response.status, 504)
    assert.equal(await problemCode(response), 'upstream_unavailable')
    t.diagnostic(`never-answering target: ${response.status} after ${elapsed} ms (timeouts.upstream ${UPSTREAM_TIMEOUT_MS} ms)`)
    assert.ok(elapsed >= UPSTREAM_TIMEOUT_MS - 50 && elapsed < UPSTREAM_TIMEOUT_MS + 1500, `answered after ${elapsed} ms`)
    await routeStillServes()
  })

  test(`a target that stalls mid-body → the client's read is aborted once the target was silent for timeouts.upstream (${UPSTREAM_TIMEOUT_MS} ms)`, async (t) => {
    const started = Date.now()
    const response = await api('/api/stall-mid-body')
    assert.equal(response.status, 200)
    const read = await readBody(response, UPSTREAM_TIMEOUT_MS + 3000)
    const elapsed = Date.now() - started
    t.diagnostic(`stall mid-body: ${read.bytes} bytes, read ${read.ended} after ${elapsed} ms`)
    assert.equal(read.ended, 'aborted')
    assert.equal(read.bytes, MID_BODY.sent.length)
    assert.ok(elapsed >= UPSTREAM_TIMEOUT_MS - 50 && elapsed < UPSTREAM_TIMEOUT_MS + 1500, `aborted after ${elapsed} ms`)
    await routeStillServes()
  })

  test(`timeouts.upstream is for silence, not for the whole answer: a body that trickles for 3 s (longer than ${UPSTREAM_TIMEOUT_MS} ms) arrives whole`, async () => {
    const response = await api('/api/trickle')
    assert.equal(response.status, 200)
    const read = await readBody(response, 8000)
    assert.deepEqual(read, { bytes: 6, ended: 'complete' })
  })

  test('after all of it: the process is alive and healthy, no 500 was logged, and twenty calls in parallel all succeed', async (t) => {
    assert.equal((await fetch(`${stack.cloakroom.url}/healthz`)).status, 200)
    const statuses = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
      const response = await api(`/api/parallel/${i}`)
      await response.arrayBuffer()
      return response.status
    }))
    assert.deepEqual(statuses, Array(20).fill(200))
    const output = stack.cloakroom.output()
    const unhandled = output.split('\n').filter((line) => line.includes('"msg":"unhandled error"')).length
    t.diagnostic(`20 parallel calls after the faults: ${statuses.filter((s) => s === 200).length}×200; unhandled errors logged: ${unhandled}`)
    assert.equal(unhandled, 0)
    assert.doesNotMatch(output, /uncaught|unhandledRejection/i)
  })
})
