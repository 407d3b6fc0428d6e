import { TOP_LEVEL_KEYS } from './load-config.ts'
import { CSRF_KEYS } from './read-csrf.ts'
import { OIDC_KEYS } from './read-oidc.ts'
import { ROUTE_KEYS } from './read-routes.ts'
import { ADMIN_KEYS, HOST_PORT_KEYS, LOGIN_KEYS, METRICS_KEYS, TIMEOUTS_KEYS, TOKENS_KEYS } from './read-sections.ts'
import { SESSION_KEYS } from './read-session.ts'
import { STORE_KEYS } from './read-store.ts'

/**
 * The mappings the readers check key by key, by the path of the key that holds them ("[]" for the
 * items of a list), with the key lists the readers use. A key not in this table is a value (a
 * string, a list of strings, or a free mapping such as oidc.authorizationParams).
 */
const SECTIONS: Readonly<Record<string, readonly string[]>> = {
  '': TOP_LEVEL_KEYS,
  listen: HOST_PORT_KEYS,
  oidc: OIDC_KEYS,
  session: SESSION_KEYS,
  store: STORE_KEYS,
  tokens: TOKENS_KEYS,
  timeouts: TIMEOUTS_KEYS,
  login: LOGIN_KEYS,
  metrics: METRICS_KEYS,
  'metrics.listen': HOST_PORT_KEYS,
  admin: ADMIN_KEYS,
  'admin.listen': HOST_PORT_KEYS,
  csrf: CSRF_KEYS,
  'routes[]': ROUTE_KEYS,
}

// Keys whose value is a list of sections: their items' keys are listed under "<key>[]".
const LISTS_OF_SECTIONS = ['routes']

function pathsUnder(section: string): string[] {
  return (SECTIONS[section] ?? []).flatMap((key) => {
    const path = section === '' ? key : `${section}.${key}`
    const children = LISTS_OF_SECTIONS.includes(path) ? `${path}[]` : path
    return [path, ...(children in SECTIONS ? pathsUnder(children) : [])]
  })
}

/**
 * Every key path the validator accepts, in file order, sections too: "listen", "listen.host", …,
 * "routes", "routes[].path", … Built from the readers' own key lists, so that documentation and
 * config/example.yaml can be tested against exactly what loadConfig takes.
 */
export const CONFIG_KEYS: readonly string[] = Object.freeze(pathsUnder(''))
