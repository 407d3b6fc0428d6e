import type { IncomingHttpHeaders } from 'node:http'
import { CloakroomError } from '../../errors.ts'

export interface CsrfOptions {
  /** Lower-case header name, e.g. "x-csrf". */
  readonly headerName: string
  /** publicUrl's origin, e.g. "https://app.example.com". */
  readonly origin: string
}

/**
 * CSRF defence for API routes and JSON auth endpoints: a custom header (a cross-site form or
 * image cannot send one, and a cross-site fetch that does must pass CORS preflight, which we
 * never grant) plus, when the browser tells us, a same-origin check.
 */
export function checkCsrf(headers: IncomingHttpHeaders, options: CsrfOptions): void {
  if (headers[options.headerName] !== '1') {
    throw new CloakroomError('csrf_required', `The ${options.headerName} header with value 1 is required`)
  }
  checkOrigin(headers, options, false)
}

/**
 * The Origin check. Browsers cannot add headers to a WebSocket handshake, so there the Origin
 * header is required; elsewhere it is checked when present, with Sec-Fetch-Site as a fallback.
 */
export function checkOrigin(headers: IncomingHttpHeaders, { origin }: CsrfOptions, required: boolean): void {
  const sent = headers['origin']
  if (sent === undefined ? required : sent !== origin) {
    throw new CloakroomError('origin_mismatch', 'The request does not come from this application')
  }
  if (headers['sec-fetch-site'] === 'cross-site') {
    throw new CloakroomError('origin_mismatch', 'The request does not come from this application')
  }
}
