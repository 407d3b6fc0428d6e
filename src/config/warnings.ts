import type { Config } from './types.ts'

/**
 * What a valid configuration does that an operator should know about, one line per finding, each
 * starting with the key it is about; empty when there is nothing to say. Pure, for the startup log.
 */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = []
  // Without the header (and its Origin check) nothing tells another page's request from the SPA's own.
  // Which pages get the session cookie along is SameSite's call (RFC 6265bis, "Same-site and Cross-site
  // Requests"): a same-site page (a sibling subdomain) always; a cross-site one only by a top-level GET
  // navigation, and only under lax.
  const senders = config.session.sameSite === 'lax'
    ? 'other pages can send this session\'s requests (a sibling subdomain any request, any site links and GET forms)'
    : 'a page on a sibling subdomain can send this session\'s requests (form posts, images)'
  config.routes.forEach((route, index) => {
    if (route.token === 'user' && !route.csrf) {
      warnings.push(
        `routes[${index}] (${route.path}): token user with csrf false: ${senders};`
        + ' only for targets that refuse state changes without their own CSRF defence',
      )
    }
  })
  return warnings
}
