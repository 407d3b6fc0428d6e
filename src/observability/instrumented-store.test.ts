import { after, afterEach, before, beforeEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { context, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { CloakroomError } from '../errors.ts'
import { createMemoryStore, type MemoryStore, type SessionStore } from '../store/index.ts'
import { sampleSession, samplePendingLogin, storeContract, type ContractClock } from '../store/store-contract.ts'
import { createMetrics } from './metrics.ts'
import { instrumentStore, STORE_OPERATIONS } from './instrumented-store.ts'
import { inSpan } from './tracing.ts'

function settableClock(): ContractClock {
  let now = Math.floor(Date.now() / 1000) * 1000
  return { now: () => now, advance: (seconds) => { now += Math.round(seconds * 1000) } }
}

/** The value of one series in the Prometheus text, or undefined when it is absent. */
async function sample(render: () => Promise<string>, series: string): Promise<number | undefined> {
  const line = (await render()).split('\n').find((candidate) => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const exporter = new InMemorySpanExporter()
before(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
})
after(() => {
  trace.disable()
  context.disable()
})

// The decorator changes no behaviour: the whole store contract holds through it.
storeContract('memory, instrumented', async (options) => {
  const clock = settableClock()
  const inner = createMemoryStore({ now: clock.now, ...options })
  return { store: instrumentStore(inner, createMetrics()), clock, cleanup: () => inner.close() }
})

describe('instrumentStore', () => {
  let inner: MemoryStore
  beforeEach(() => {
    inner = createMemoryStore({ now: Date.now })
    exporter.reset()
  })
  afterEach(() => inner.close())

  test('wraps every async method and keeps kind and the store’s other members', async () => {
    const store = instrumentStore(inner, createMetrics())
    assert.equal(store.kind, 'memory')
    for (const operation of STORE_OPERATIONS) {
      assert.equal(typeof store[operation], 'function')
      assert.notEqual(store[operation], inner[operation], operation)
    }
    await store.createSession(sampleSession(Date.now() / 1000))
    assert.deepEqual(store.size(), { sessions: 1, pendingLogins: 0 })
    assert.equal(store.size, inner.size)
  })

  test('each call is a span cloakroom.store.<method> with the store kind, and no argument in it', async () => {
    const store = instrumentStore(inner, createMetrics())
    const session = sampleSession(Date.now() / 1000)
    await store.createSession(session)
    assert.deepEqual(await store.getSession(session.id), session)
    const lock = await store.acquireLock(`refresh:{${session.id}}`, 1000)
    assert.ok(lock.token !== undefined)
    await store.releaseLock(`refresh:{${session.id}}`, lock.token)
    const spans = exporter.getFinishedSpans()
    assert.deepEqual(spans.map((span) => span.name), ['cloakroom.store.createSession', 'cloakroom.store.getSession', 'cloakroom.store.acquireLock', 'cloakroom.store.releaseLock'])
    for (const span of spans) {
      assert.deepEqual(span.attributes, { 'cloakroom.store.kind': 'memory' })
      assert.equal(span.status.code, SpanStatusCode.UNSET)
    }
    const dump = JSON.stringify(spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events })))
    for (const secret of [session.id, session.tokens.accessToken, lock.token]) assert.ok(!dump.includes(secret))
  })

  test('store spans are children of the span around the call', async () => {
    const store = instrumentStore(inner, createMetrics())
    await inSpan('cloakroom.proxy', {}, () => store.getSession('none'))
    const [get, proxy] = exporter.getFinishedSpans()
    assert.equal(get?.name, 'cloakroom.store.getSession')
    assert.equal(get.parentSpanContext?.spanId, proxy?.spanContext().spanId)
  })

  test('a failure is counted under its method, marked on the span, and rethrown unchanged', async () => {
    const metrics = createMetrics()
    const unavailable = new CloakroomError('store_unavailable', 'the session store is unavailable')
    const failing: SessionStore = { ...inner, getSession: () => Promise.reject(unavailable), ping: async () => { throw unavailable } }
    const store = instrumentStore(failing, metrics)
    const series = (operation: string): string => `cloakroom_store_errors_total{operation="${operation}"}`
    assert.equal(await sample(metrics.render, series('getSession')), 0)
    await assert.rejects(store.getSession('x'), (thrown) => thrown === unavailable)
    await assert.rejects(store.getSession('x'), (thrown) => thrown === unavailable)
    await assert.rejects(store.ping(), (thrown) => thrown === unavailable)
    await store.deleteSession('x')
    assert.equal(await sample(metrics.render, series('getSession')), 2)
    assert.equal(await sample(metrics.render, series('ping')), 1)
    assert.equal(await sample(metrics.render, series('deleteSession')), 0)
    const [first] = exporter.getFinishedSpans()
    assert.equal(first?.status.code, SpanStatusCode.ERROR)
    assert.equal(first.attributes['cloakroom.error.code'], 'store_unavailable')
  })

  test('too many pending logins (rate_limited) is a refusal, not a store error: rethrown, not counted', async () => {
    const metrics = createMetrics()
    const small = createMemoryStore({ now: Date.now, maxPendingLogins: 1 })
    after(() => small.close())
    const store = instrumentStore(small, metrics)
    await store.putPendingLogin('one', samplePendingLogin(Date.now() / 1000), 600)
    await assert.rejects(store.putPendingLogin('two', samplePendingLogin(Date.now() / 1000), 600), (error) => error instanceof CloakroomError && error.code === 'rate_limited')
    assert.equal(await sample(metrics.render, 'cloakroom_store_errors_total{operation="putPendingLogin"}'), 0)
  })

  test('methods run with the store as this (a store built as a class keeps working)', async () => {
    class Counting {
      readonly kind = 'counting'
      calls = 0
      async ping(): Promise<void> { this.calls += 1 }
    }
    const counting = Object.assign(new Counting(), Object.fromEntries(STORE_OPERATIONS.filter((op) => op !== 'ping').map((op) => [op, async () => undefined])))
    const store = instrumentStore(counting as unknown as SessionStore & Counting, createMetrics())
    await store.ping()
    assert.equal(counting.calls, 1)
  })
})
