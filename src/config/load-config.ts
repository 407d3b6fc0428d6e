import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { ConfigError } from './config-error.ts'
import { deepFreeze } from '../deep-freeze.ts'
import { parseYaml } from './parse-yaml.ts'
import { readCsrf } from './read-csrf.ts'
import { readOidc } from './read-oidc.ts'
import { readRoutes } from './read-routes.ts'
import { readAdmin, readHostPort, readLogin, readMetrics, readPublicUrl, readTimeouts, readTokens, readTrustProxy } from './read-sections.ts'
import { readSession } from './read-session.ts'
import { readStore } from './read-store.ts'
import { type Env, substituteEnv } from './substitute-env.ts'
import type { Config } from './types.ts'
import { type Mapping, type Problems, readMapping } from './validate.ts'
import { NO_ORIGINS, type OriginOf, variableOrigins } from './variable-origin.ts'

/** The top-level keys of a config file. */
export const TOP_LEVEL_KEYS: readonly string[] = [
  'listen', 'publicUrl', 'trustProxy', 'oidc', 'session', 'store', 'tokens', 'timeouts', 'login', 'metrics', 'admin', 'csrf', 'routes',
]

export interface LoadConfigOptions {
  /** The folder relative `static` and `privateKeyFile` paths are resolved against; default: process.cwd(). */
  readonly baseDir?: string
}

/**
 * Reads a configuration: substitutes `${NAME}` and `${NAME:-default}` from `env`, parses the YAML,
 * checks every key and applies the defaults (SPEC "Configuration file"). Returns a deeply frozen Config,
 * or throws one ConfigError listing every problem found.
 */
export function loadConfig(text: string, env: Env, options: LoadConfigOptions = {}): Config {
  const substituted = substituteEnv(text, env)
  const problems: Problems = [...substituted.problems]
  const parsed = parseYaml(problems, substituted, text)
  const origins = parsed === undefined ? NO_ORIGINS : variableOrigins(parsed.document, substituted.replacements)
  const config = parsed === undefined ? undefined : readConfig(problems, parsed.root, options.baseDir ?? process.cwd(), origins)
  if (config === undefined || problems.length > 0) throw new ConfigError(problems)
  return deepFreeze(config)
}

/** loadConfig on a file; relative paths in it resolve against the file's folder. */
export function loadConfigFile(path: string, env: Env): Config {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new ConfigError([`${path}: cannot read the config file (${readFailure(error)})`])
  }
  return loadConfig(text, env, { baseDir: dirname(resolve(path)) })
}

function readConfig(problems: Problems, root: Mapping, baseDir: string, origins: OriginOf): Config {
  readMapping(problems, '', root, TOP_LEVEL_KEYS)
  // default: every interface, the usual port for a service behind a load balancer
  const listen = readHostPort(problems, 'listen', root.listen, { host: '0.0.0.0', port: 8080 })
  const publicUrl = readPublicUrl(problems, root.publicUrl)
  const metrics = readMetrics(problems, root.metrics, listen)
  return {
    listen,
    publicUrl: publicUrl ?? '',
    trustProxy: readTrustProxy(problems, root.trustProxy),
    oidc: readOidc(problems, root.oidc, publicUrl, baseDir, origins),
    session: readSession(problems, root.session, publicUrl, origins),
    store: readStore(problems, root.store),
    tokens: readTokens(problems, root.tokens),
    timeouts: readTimeouts(problems, root.timeouts),
    login: readLogin(problems, root.login),
    metrics,
    admin: readAdmin(problems, root.admin, listen, metrics.listen, origins),
    csrf: readCsrf(problems, root.csrf),
    routes: readRoutes(problems, root.routes, baseDir),
  }
}

const FAILURES: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
}

function readFailure(error: unknown): string {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined
  if (code === undefined) return error instanceof Error ? error.message : String(error)
  return FAILURES[code] ?? code
}
