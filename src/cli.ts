#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { ConfigError, loadConfigFile, type Config } from './config/index.ts'
import { createLogger } from './log.ts'
import { startServer } from './server.ts'
import { runCheck } from './check.ts'

const USAGE = 'usage: cloakroom [check] --config FILE   (or CLOAKROOM_CONFIG=FILE)'

/** argv → config → start | check. Exit codes: 0 fine, 1 check found something that cannot work, 2 bad usage or config. */
async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: [...argv], options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true })
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`)
    return 2
  }
  const [command = 'serve', ...extra] = parsed.positionals
  const file = parsed.values.config ?? env['CLOAKROOM_CONFIG']
  if (parsed.values.help === true) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if (file === undefined || extra.length > 0 || !['serve', 'check'].includes(command)) {
    process.stderr.write(`${USAGE}\n`)
    return 2
  }
  let config: Config
  try {
    config = await loadConfigFile(file, env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`cloakroom: invalid configuration in ${file}:\n${error.message}\n`)
    return 2
  }
  if (command === 'check') return check(config, file)
  return serve(config, createLogger(env['LOG_LEVEL'] ?? 'info'))
}

/** Human lines on stdout and no log lines; a config that fails only once files are read (a private key) is exit 2 too. */
async function check(config: Config, file: string): Promise<number> {
  try {
    return await runCheck(config, { print: (line) => process.stdout.write(`${line}\n`) })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`cloakroom: invalid configuration in ${file}:\n${error.message}\n`)
    return 2
  }
}

async function serve(config: Config, log: ReturnType<typeof createLogger>): Promise<number> {
  let server
  let unfit: string | undefined
  let stopUnfit = (reason: string) => { unfit = reason }
  try {
    server = await startServer({ config, log, onUnfitIssuer: (reason) => stopUnfit(reason) })
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`cloakroom: invalid configuration:\n${error.message}\n`)
    return 2
  }
  log.info({ port: server.port, publicUrl: config.publicUrl }, 'cloakroom listening')
  return new Promise((resolve) => {
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) return
      stopping = true
      log.info({ signal }, 'draining')
      server.close().then(() => resolve(0), (error: unknown) => {
        log.error({ err: error }, 'shutdown failed')
        resolve(1)
      })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
    // The issuer answered discovery, and cannot serve this configuration: nothing here can fix that.
    stopUnfit = (reason) => {
      if (stopping) return
      stopping = true
      process.stderr.write(`cloakroom: the issuer cannot serve this configuration: ${reason}\n`)
      server.close().then(() => resolve(1), () => resolve(1))
    }
    if (unfit !== undefined) stopUnfit(unfit)
  })
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`cloakroom: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  },
)
