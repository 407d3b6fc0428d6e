import type { Attributes } from '@opentelemetry/api'
import { CloakroomError } from '../errors.ts'
import type { SessionStore } from '../store/index.ts'
import type { Metrics } from './metrics.ts'
import { inSpan } from './tracing.ts'

type AsyncMethodName<T> = { [K in keyof T]-?: T[K] extends (...args: never[]) => Promise<unknown> ? K : never }[keyof T]

/** A SessionStore method that returns a promise: the `operation` of a store span and of a store error. */
export type StoreOperation = AsyncMethodName<SessionStore>

// Every async method of SessionStore, checked by the compiler both ways: a method added to the
// interface fails to compile here until it is listed (and so instrumented).
const OPERATIONS = {
  putPendingLogin: true,
  takePendingLogin: true,
  createSession: true,
  getSession: true,
  updateSession: true,
  updateSessionFenced: true,
  deleteSession: true,
  sessionsOf: true,
  acquireLock: true,
  extendLock: true,
  releaseLock: true,
  putMarker: true,
  hasMarker: true,
  publish: true,
  subscribe: true,
  ping: true,
  close: true,
} as const satisfies Record<StoreOperation, true>

export const STORE_OPERATIONS: readonly StoreOperation[] = Object.keys(OPERATIONS) as StoreOperation[]

/** A refusal the store gives by design (too many pending logins), not a failure to reach it. */
function isStoreFailure(error: unknown): boolean {
  return !(error instanceof CloakroomError && error.code === 'rate_limited')
}

/**
 * The same store, each async method run in a span `cloakroom.store.<method>` and each failure counted
 * as `cloakroom_store_errors_total{operation="<method>"}`, then rethrown unchanged. `kind` and every
 * other field or method pass through as they are. Spans carry the store's kind, never an argument
 * (session ids, states and lock tokens are secrets).
 */
export function instrumentStore<S extends SessionStore>(store: S, metrics: Pick<Metrics, 'storeError'>): S {
  const attributes: Attributes = { 'cloakroom.store.kind': store.kind }
  const instrumented: S = { ...store }
  for (const operation of STORE_OPERATIONS) {
    const method = store[operation] as (...args: unknown[]) => Promise<unknown>
    const spanName = `cloakroom.store.${operation}`
    const failed = (error: unknown): never => {
      if (isStoreFailure(error)) metrics.storeError(operation)
      throw error
    }
    const wrapped = (...args: unknown[]): Promise<unknown> =>
      inSpan(spanName, attributes, () => method.apply(store, args)).then(undefined, failed)
    Object.assign(instrumented, { [operation]: wrapped })
  }
  return instrumented
}
