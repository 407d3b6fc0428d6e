import { after, before, beforeEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { context, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { CloakroomError } from '../errors.ts'
import { inSpan, tracingEnabled } from './tracing.ts'

function byName(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const span = spans.find((candidate) => candidate.name === name)
  assert.ok(span, `no span named ${name} among ${spans.map((s) => s.name).join(', ')}`)
  return span
}

// Tests in a file run in order: the first block runs before any SDK exists, the second registers one
// at runtime, as an operator's --import script or a late SDK start would.
describe('inSpan without an SDK', () => {
  test('runs fn with a span that records nothing and returns its result', async () => {
    assert.equal(tracingEnabled(), false)
    const result = await inSpan('cloakroom.login', { 'cloakroom.route': '/auth/login' }, async (span) => {
      assert.equal(span.isRecording(), false)
      span.setAttribute('ignored', 1)
      return 42
    })
    assert.equal(result, 42)
  })

  test('passes a rejection on unchanged, and a synchronous throw as a rejection', async () => {
    const error = new CloakroomError('store_unavailable', 'the session store is unavailable')
    await assert.rejects(inSpan('cloakroom.store.getSession', {}, () => Promise.reject(error)), (thrown) => thrown === error)
    const thrown = new Error('sync')
    const promise = inSpan('cloakroom.proxy', {}, () => { throw thrown })
    assert.ok(promise instanceof Promise)
    await assert.rejects(promise, (caught) => caught === thrown)
  })
})

describe('inSpan with an SDK registered at runtime', () => {
  const exporter = new InMemorySpanExporter()
  before(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }))
  })
  after(() => {
    trace.disable()
    context.disable()
  })
  beforeEach(() => exporter.reset())

  test('records an ended span with its name and attributes, status unset on success', async () => {
    assert.equal(tracingEnabled(), true)
    const result = await inSpan('cloakroom.refresh', { 'cloakroom.route': '/api' }, async (span) => {
      assert.equal(span.isRecording(), true)
      span.setAttribute('cloakroom.refresh.outcome', 'ok')
      return 'done'
    })
    assert.equal(result, 'done')
    const [span, ...others] = exporter.getFinishedSpans()
    assert.equal(others.length, 0)
    assert.ok(span)
    assert.equal(span.name, 'cloakroom.refresh')
    assert.deepEqual(span.attributes, { 'cloakroom.route': '/api', 'cloakroom.refresh.outcome': 'ok' })
    assert.equal(span.ended, true)
    assert.equal(span.status.code, SpanStatusCode.UNSET)
    assert.equal(span.instrumentationScope.name, 'cloakroom')
  })

  test('a span started inside another, across awaits, is its child in the same trace', async () => {
    await inSpan('cloakroom.proxy', {}, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1))
      await inSpan('cloakroom.refresh', {}, async () => {
        await new Promise((resolve) => setImmediate(resolve))
        await inSpan('cloakroom.store.updateSessionFenced', {}, async () => undefined)
      })
      await inSpan('cloakroom.store.getSession', {}, async () => undefined)
    })
    const spans = exporter.getFinishedSpans()
    assert.equal(spans.length, 4)
    const proxy = byName(spans, 'cloakroom.proxy')
    const refresh = byName(spans, 'cloakroom.refresh')
    const fenced = byName(spans, 'cloakroom.store.updateSessionFenced')
    const get = byName(spans, 'cloakroom.store.getSession')
    assert.equal(proxy.parentSpanContext, undefined)
    assert.equal(refresh.parentSpanContext?.spanId, proxy.spanContext().spanId)
    assert.equal(fenced.parentSpanContext?.spanId, refresh.spanContext().spanId)
    assert.equal(get.parentSpanContext?.spanId, proxy.spanContext().spanId)
    for (const span of spans) assert.equal(span.spanContext().traceId, proxy.spanContext().traceId)
  })

  test('sibling requests in flight at once each get their own trace', async () => {
    await Promise.all([
      inSpan('cloakroom.proxy', { 'cloakroom.route': '/a' }, async () => {
        await new Promise((resolve) => setTimeout(resolve, 2))
        await inSpan('cloakroom.store.getSession', { n: 1 }, async () => undefined)
      }),
      inSpan('cloakroom.proxy', { 'cloakroom.route': '/b' }, async () => {
        await inSpan('cloakroom.store.getSession', { n: 2 }, async () => undefined)
      }),
    ])
    const spans = exporter.getFinishedSpans()
    for (const [route, n] of [['/a', 1], ['/b', 2]] as const) {
      const proxy = spans.find((span) => span.attributes['cloakroom.route'] === route)
      const store = spans.find((span) => span.attributes['n'] === n)
      assert.ok(proxy && store)
      assert.equal(store.parentSpanContext?.spanId, proxy.spanContext().spanId)
    }
  })

  test('a rejection marks the span ERROR with the code, records the exception, and passes the same error on', async () => {
    const error = new CloakroomError('idp_unavailable', 'the identity provider is unavailable', { cause: new Error('token=abc') })
    await assert.rejects(inSpan('cloakroom.callback', {}, () => Promise.reject(error)), (thrown) => thrown === error)
    const [span] = exporter.getFinishedSpans()
    assert.ok(span)
    assert.equal(span.ended, true)
    assert.deepEqual(span.status, { code: SpanStatusCode.ERROR, message: 'idp_unavailable' })
    assert.equal(span.attributes['cloakroom.error.code'], 'idp_unavailable')
    const [event] = span.events
    assert.equal(event?.name, 'exception')
    assert.equal(event.attributes?.['exception.type'], 'CloakroomError')
    assert.equal(event.attributes?.['exception.message'], 'the identity provider is unavailable')
    assert.match(String(event.attributes?.['exception.stacktrace']), /^\s+at /)
    assert.doesNotMatch(JSON.stringify(span.events), /token=abc/)
  })

  test("another error's message never reaches the span (it may quote a secret); its code and stack frames do", async () => {
    const error = Object.assign(new Error('connect to redis://:hunter2@10.0.0.1:6379 refused\nsecond line hunter2'), { code: 'ECONNREFUSED' })
    await assert.rejects(inSpan('cloakroom.store.ping', {}, () => Promise.reject(error)), (thrown) => thrown === error)
    const [span] = exporter.getFinishedSpans()
    assert.ok(span)
    assert.equal(span.status.code, SpanStatusCode.ERROR)
    assert.equal(span.attributes['cloakroom.error.code'], 'ECONNREFUSED')
    assert.equal(span.events[0]?.attributes?.['exception.type'], 'Error')
    assert.equal(span.events[0]?.attributes?.['exception.message'], undefined)
    assert.match(String(span.events[0]?.attributes?.['exception.stacktrace']), /tracing\.test\.ts/)
    assert.doesNotMatch(JSON.stringify({ attributes: span.attributes, events: span.events, status: span.status }), /hunter2/)
  })

  test('a code that is not an identifier is left out, and a thrown non-error is still recorded', async () => {
    const odd = Object.assign(new Error('x'), { code: 'Bearer eyJhbGciOi.secret value' })
    await assert.rejects(inSpan('cloakroom.proxy', {}, () => Promise.reject(odd)))
    await assert.rejects(inSpan('cloakroom.proxy', {}, () => Promise.reject('a string')))
    const [first, second] = exporter.getFinishedSpans()
    assert.ok(first && second)
    assert.equal(first.attributes['cloakroom.error.code'], undefined)
    assert.deepEqual(first.status, { code: SpanStatusCode.ERROR })
    assert.doesNotMatch(JSON.stringify(first.events), /eyJhbGciOi/)
    assert.equal(second.status.code, SpanStatusCode.ERROR)
    assert.equal(second.events[0]?.attributes?.['exception.type'], 'string')
    assert.doesNotMatch(JSON.stringify(second.events), /a string/)
  })
})
