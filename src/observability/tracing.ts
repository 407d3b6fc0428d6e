import { INVALID_SPAN_CONTEXT, ProxyTracerProvider, SpanStatusCode, trace, type Attributes, type Exception, type Span } from '@opentelemetry/api'
import { CloakroomError } from '../errors.ts'

/**
 * Spans through the OpenTelemetry API only. Nothing is recorded until the operator registers an SDK
 * (docs/observability.md); until then `inSpan` costs a function call and a check.
 */
export const TRACER_NAME = 'cloakroom'
export const tracer = trace.getTracer(TRACER_NAME)


// The API's own no-op provider: what its proxy delegates to until an SDK calls setGlobalTracerProvider.
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate()
// What fn gets while nothing records: every method of a non-recording span does nothing.
const NON_RECORDING_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT)
// An error code is an identifier (ECONNREFUSED, store_unavailable, OAUTH_…): anything else is dropped.
const SAFE_CODE = /^[A-Za-z0-9_.:-]{1,64}$/

/**
 * True once an SDK is registered. Asked on every call, not cached: an operator may register one
 * after this module loaded. A provider from another copy of the API counts as registered.
 */
export function tracingEnabled(): boolean {
  const provider = trace.getTracerProvider()
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_PROVIDER
}

/**
 * Runs `fn` inside an active span named `name`, ended when fn settles. A rejection is recorded on
 * the span (status ERROR, the error's `code` as `cloakroom.error.code`) and passed on unchanged.
 * Attributes must never hold a token, a cookie, a session id, a code or a query string.
 */
export function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  if (!tracingEnabled()) {
    try {
      return fn(NON_RECORDING_SPAN)
    } catch (error) {
      return Promise.reject(error)
    }
  }
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span)
    } catch (error) {
      recordError(span, error)
      throw error
    } finally {
      span.end()
    }
  })
}

/** Marks the span failed, with what is safe to export about `error` (never a message that could hold a secret). */
export function recordError(span: Span, error: unknown): void {
  const code = errorCode(error)
  if (code !== undefined) span.setAttribute('cloakroom.error.code', code)
  span.recordException(describeException(error))
  span.setStatus({ code: SpanStatusCode.ERROR, ...(code === undefined ? {} : { message: code }) })
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined
  const code = error.code
  return (typeof code === 'string' || typeof code === 'number') && SAFE_CODE.test(String(code)) ? String(code) : undefined
}

/**
 * A CloakroomError's message is written for the client, so it is safe; any other error's message may
 * quote a URL with credentials or an issuer's answer, so only its name, code and stack frames go.
 */
function describeException(error: unknown): Exception {
  if (!(error instanceof Error)) return { name: typeof error }
  const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line)).join('\n')
  return {
    name: error.name,
    ...(error instanceof CloakroomError ? { message: error.message } : {}),
    ...(frames === '' ? {} : { stack: frames }),
  }
}
