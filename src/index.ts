/**
 * The programmatic entry of the `cloakroom` package: read a configuration, start the server.
 * The CLI (`cloakroom [check] --config FILE`) is built on these same functions.
 *
 * ```ts
 * import { createLogger, loadConfigFile, startServer } from 'cloakroom'
 * const server = await startServer({ config: loadConfigFile('cloakroom.yaml', process.env), log: createLogger('info') })
 * process.once('SIGTERM', () => void server.close())
 * ```
 */
export { startServer, type ServerOptions, type RunningServer } from './server.ts'
export { loadConfig, loadConfigFile, ConfigError, isConfigError, type LoadConfigOptions, type Env } from './config/index.ts'
export type {
  Config, OidcConfig, SessionConfig, StoreConfig, RouteConfig, RouteTokenMode, HostPort, Seconds, TokenEndpointAuthMethod,
} from './config/index.ts'
export { createLogger } from './log.ts'
