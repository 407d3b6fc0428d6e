export { matchRoute, upstreamPath, hasDotSegments, routeShiftsWhenDecoded } from './match-route.ts'
export { createForwarder, upstreamError } from './forward.ts'
export type { Forwarder, ForwardOptions } from './forward.ts'
export { clientAddress } from './forward-headers.ts'
