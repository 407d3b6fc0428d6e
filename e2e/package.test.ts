import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { startIdp, type Idp } from '../demo/idp.ts'
import { CLIENT_SECRET, SESSION_SECRET } from './fixtures/cloakroom.ts'
import { startEchoUpstream, type EchoUpstream } from './fixtures/echo-upstream.ts'
import { freePort } from './fixtures/free-port.ts'
import { issuerFeatureLines } from './fixtures/check-lines.ts'

/**
 * The package as a user gets it: `npm pack`, the tarball installed with production dependencies
 * only into an empty folder, then `npx cloakroom check`, `npx cloakroom` serving, the installed
 * bin stopped by SIGTERM, and `import('cloakroom')`, against a real oidc-provider. Nothing here
 * reads the source tree after packing.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLIENT_ID = 'cloakroom-package'

/**
 * Children get this process's Node 24 first on PATH (npm and the bin's `#!/usr/bin/env node` find
 * it there) and none of the `npm_*` variables a surrounding `npm test` sets: an inherited
 * `npm_config_prefix` would install into the wrong place. npx gets `--no-install`, as the README
 * says, and `npm_config_yes=false` too: it must run the installed bin, never fetch the unrelated
 * `cloakroom` on the registry.
 */
const ENV: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key))),
  PATH: `${dirname(process.execPath)}${delimiter}${process.env['PATH'] ?? ''}`,
  npm_config_yes: 'false',
  npm_config_update_notifier: 'false',
}

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

/** Runs a command to its end (killed after `timeoutMs`). */
async function run(command: string, args: readonly string[], cwd: string, timeoutMs = 60_000): Promise<Run> {
  const started = Date.now()
  const child = spawn(command, args, { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  const output = collect(child)
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]))
  })
  clearTimeout(timer)
  return { code, signal, ...output(), ms: Date.now() - started }
}

function collect(child: ChildProcess): () => { stdout: string; stderr: string } {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  return () => ({ stdout, stderr })
}

interface TarEntry { readonly mode: number; readonly content: Buffer }

/** The regular files of a .tgz, by path (ustar names and prefixes, pax `path` records). */
function readTarball(gzipped: Buffer): Map<string, TarEntry> {
  const tar = gunzipSync(gzipped)
  const entries = new Map<string, TarEntry>()
  const text = (start: number, length: number) => tar.subarray(start, start + length).toString('utf8').replace(/\0.*$/s, '')
  let paxPath: string | undefined
  for (let offset = 0; offset + 512 <= tar.length && tar[offset] !== 0;) {
    const size = parseInt(text(offset + 124, 12).trim() || '0', 8)
    const type = text(offset + 156, 1)
    const prefix = text(offset + 345, 155)
    const name = paxPath ?? (prefix === '' ? text(offset, 100) : `${prefix}/${text(offset, 100)}`)
    const content = tar.subarray(offset + 512, offset + 512 + size)
    paxPath = undefined
    if (type === 'x') paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(content.toString('utf8'))?.[1]
    else if (type === '0' || type === '') entries.set(name, { mode: parseInt(text(offset + 100, 8).trim(), 8), content })
    offset += 512 + Math.ceil(size / 512) * 512
  }
  return entries
}

interface Served { readonly child: ChildProcess; readonly url: string; output(): { stdout: string; stderr: string }; closed: Promise<[number | null, NodeJS.Signals | null]> }

/** Starts a server command in its own process group, waiting until /healthz answers. */
async function serve(command: string, args: readonly string[], cwd: string, url: string): Promise<Served> {
  const child = spawn(command, args, { cwd, env: { ...ENV, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const output = collect(child)
  // 'close' comes once every process holding the pipes has gone, so also a grandchild npx started.
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (code, signal) => resolve([code, signal])))
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${command} exited (${child.exitCode ?? child.signalCode}):\n${JSON.stringify(output())}`)
    if (await fetch(`${url}/healthz`).then((response) => response.ok, () => false)) break
    if (Date.now() > deadline) {
      killGroup(child, 'SIGKILL')
      throw new Error(`${command} did not start:\n${JSON.stringify(output())}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { child, url, output, closed }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
  }
}

describe('the npm package', () => {
  let work: string
  let app: string
  let tarball: string
  let entries: Map<string, TarEntry>
  let packedFiles: string[]
  let idp: Idp
  let upstream: EchoUpstream
  let port: number
  let publicUrl: string
  const running: Served[] = []

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'cloakroom-package-'))
    app = join(work, 'app')
    await mkdir(app)
    port = await freePort()
    publicUrl = `http://127.0.0.1:${port}`
    ;[idp, upstream] = await Promise.all([
      startIdp({
        interactions: 'auto',
        clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`${publicUrl}/auth/callback`], postLogoutRedirectUris: [`${publicUrl}/`] }],
      }),
      startEchoUpstream(),
    ])
  })

  after(async () => {
    for (const served of running) killGroup(served.child, 'SIGKILL')
    await Promise.all([idp?.stop(), upstream?.stop()])
    if (work !== undefined) await rm(work, { recursive: true, force: true })
  })

  /** The config a user would write: memory store, one API route, this suite's IdP (JSON is YAML). */
  async function writeConfig(name: string, listenPort: number): Promise<string> {
    const file = join(app, name)
    await writeFile(file, JSON.stringify({
      listen: { host: '127.0.0.1', port: listenPort },
      publicUrl,
      oidc: { issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      session: { secrets: [SESSION_SECRET] },
      store: { type: 'memory' },
      routes: [{ path: '/api', target: upstream.url, token: 'user' }],
    }, null, 2))
    return file
  }

  test('npm pack: dist, README, docs and the example config; no source, tests, e2e, demo or bench', async () => {
    // prepack builds dist (and makes the bin executable), so this works from a clean clone too.
    const packed = await run('npm', ['pack', '--json', '--pack-destination', work], ROOT, 90_000)
    assert.equal(packed.code, 0, packed.stderr)
    console.log(`npm pack (with its build) took ${packed.ms} ms`)
    const [report] = JSON.parse(packed.stdout) as { filename: string; entryCount: number; size: number; files: { path: string }[] }[]
    assert.ok(report !== undefined)
    tarball = join(work, report.filename)
    packedFiles = report.files.map((file) => file.path).sort()
    console.log(`tarball ${report.filename}: ${report.entryCount} files, ${report.size} bytes`)

    entries = readTarball(await readFile(tarball))
    assert.deepEqual([...entries.keys()].map((path) => path.replace(/^package\//, '')).sort(), packedFiles)
    for (const path of ['package.json', 'README.md', 'config/example.yaml', 'docs/configuration.md', 'dist/cli.js', 'dist/index.js', 'dist/index.d.ts', 'client/cloakroom.js', 'client/cloakroom.d.ts']) {
      assert.ok(packedFiles.includes(path), `${path} is missing from the tarball`)
    }
    for (const path of packedFiles) {
      assert.match(path, /^(package\.json|README\.md|LICENSE(\.md)?|config\/example\.yaml|docs\/[^/]+\.md|dist\/.+\.(js|d\.ts)|client\/cloakroom\.(js|d\.ts))$/, `${path} should not ship`)
      assert.doesNotMatch(path, /\.test\.|^(src|e2e|demo|bench|scripts)\/|store-contract/, `${path} should not ship`)
    }
    // Every compiled module has its source outside the tests: nothing stale or test-only in dist.
    const compiled = packedFiles.filter((path) => path.endsWith('.js')).map((path) => path.replace(/^dist\/(.*)\.js$/, 'src/$1.ts'))
    for (const source of compiled) assert.ok(existsSync(join(ROOT, source)), `the tarball has ${source.replace(/^src\/(.*)\.ts$/, 'dist/$1.js')} but there is no ${source}: a stale build (remove dist, pack again)`)

    const cli = entries.get('package/dist/cli.js')
    assert.ok(cli !== undefined)
    assert.equal(cli.content.subarray(0, 20).toString(), '#!/usr/bin/env node\n')
    assert.equal(cli.mode & 0o111, 0o111, `dist/cli.js has mode ${cli.mode.toString(8)}, not executable`)

    const manifest = JSON.parse(entries.get('package/package.json')?.content.toString() ?? '{}') as Record<string, unknown>
    assert.equal(manifest['private'], undefined)
    assert.deepEqual(manifest['bin'], { cloakroom: 'dist/cli.js' })
    assert.deepEqual(manifest['exports'], { '.': { types: './dist/index.d.ts', default: './dist/index.js' }, './package.json': './package.json', './client': { types: './client/cloakroom.d.ts', default: './client/cloakroom.js' } })
  })

  test('installs into an empty folder with production dependencies only', async () => {
    assert.ok(tarball !== undefined, 'the pack test did not run')
    const installed = await run('npm', ['install', '--prefix', app, '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball], app, 120_000)
    assert.equal(installed.code, 0, installed.stderr)
    console.log(`npm install of the tarball took ${installed.ms} ms`)
    assert.ok(existsSync(join(app, 'node_modules/.bin/cloakroom')))
    for (const dev of ['typescript', 'oidc-provider', 'fast-check', '@playwright/test', '@types/node']) {
      assert.equal(existsSync(join(app, 'node_modules', dev)), false, `${dev} (a devDependency) was installed`)
    }
  })

  test('npx --no-install cloakroom check against a real issuer: exit 0, one line per finding', async () => {
    const file = await writeConfig('check.yaml', port)
    const { code, stdout, stderr } = await run('npx', ['--no-install', 'cloakroom', 'check', '--config', file], app)
    const discovery = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>
    assert.equal(code, 0, stdout + stderr)
    assert.deepEqual(stdout.trimEnd().split('\n'), [
      `config: ok (1 routes, store memory, public URL ${publicUrl})`,
      `issuer: ok ${discovery['issuer']}`,
      `  authorization_endpoint: ${discovery['authorization_endpoint']}`,
      `  token_endpoint: ${discovery['token_endpoint']}`,
      ...issuerFeatureLines(discovery),
      `credentials: ok (client_secret_basic accepted at ${discovery['token_endpoint']})`,
      `  redirect_uri to register: ${publicUrl}/auth/callback (not verifiable here)`,
      `  post_logout_redirect_uri to register: ${publicUrl}/ (not verifiable here)`,
      `  backchannel_logout_uri, if the issuer has back-channel logout: ${publicUrl}/auth/backchannel-logout`,
      'store: ok memory (sessions live in one process: run a single instance)',
      'check: ok',
    ])
    assert.equal(stderr, '')
  })

  test('npx --no-install cloakroom serves: /healthz 200, an API call without a session the 401 problem; stopped as a terminal or systemd stops it', async () => {
    const file = await writeConfig('serve.yaml', port)
    const served = await serve('npx', ['--no-install', 'cloakroom', '--config', file], app, publicUrl)
    running.push(served)
    assert.equal((await fetch(`${publicUrl}/healthz`)).status, 200)
    const response = await fetch(`${publicUrl}/api/orders`, { headers: { 'x-csrf': '1' } })
    assert.equal(response.status, 401)
    assert.equal(response.headers.get('content-type'), 'application/problem+json')
    assert.deepEqual(await response.json(), { type: 'about:blank', title: 'Unauthorized', status: 401, code: 'unauthenticated', detail: 'No valid session' })
    assert.equal(upstream.seen.length, 0)

    // npm runs the bin under `sh -c`, and that shell dies of a SIGTERM without passing it on: a
    // SIGTERM for the npx process alone leaves Cloakroom running, orphaned. Ctrl-C in a terminal and
    // systemd (KillMode=control-group) signal every process, as here; a supervisor that signals one
    // process should run the bin itself (next test).
    killGroup(served.child, 'SIGTERM')
    // Every process holding the pipes (npm, sh, Cloakroom) has exited once they close.
    await served.closed
    const lines = served.output().stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { msg: string; signal?: string })
    assert.ok(lines.some((line) => line.msg === 'cloakroom listening'))
    // The request's own line may come after it under load (it is written once the response is done).
    assert.ok(lines.some((line) => line.msg === 'draining' && line.signal === 'SIGTERM'), served.output().stdout)
    assert.equal(await fetch(`${publicUrl}/healthz`).then(() => 'answered', () => 'refused'), 'refused')
  })

  test('the installed bin (shebang, executable) serves and exits 0 on SIGTERM', async () => {
    const file = await writeConfig('serve.yaml', port)
    const served = await serve(join(app, 'node_modules/.bin/cloakroom'), ['--config', file], app, publicUrl)
    running.push(served)
    assert.equal((await fetch(`${publicUrl}/api/orders`, { headers: { 'x-csrf': '1' } })).status, 401)
    served.child.kill('SIGTERM')
    assert.deepEqual(await served.closed, [0, null])
    assert.equal(served.output().stderr, '')
  })

  test("import('cloakroom') gives the programmatic entry: loadConfig, loadConfigFile, startServer, createLogger, ConfigError", async () => {
    const file = await writeConfig('program.yaml', 0)
    await writeFile(join(app, 'program.mjs'), `
      import * as cloakroom from 'cloakroom'
      import pkg from 'cloakroom/package.json' with { type: 'json' }
      import { createCloakroom } from 'cloakroom/client'
      const exports = Object.fromEntries(Object.entries(cloakroom).map(([name, value]) => [name, typeof value]))
      let invalid
      try { cloakroom.loadConfig('publicUrl: nope', {}) } catch (error) { invalid = error instanceof cloakroom.ConfigError ? error.lines : String(error) }
      const config = cloakroom.loadConfigFile(${JSON.stringify(file)}, process.env)
      const server = await cloakroom.startServer({ config, log: cloakroom.createLogger('silent') })
      const health = (await fetch('http://127.0.0.1:' + server.port + '/healthz')).status
      const served = await (await fetch('http://127.0.0.1:' + server.port + '/auth/client.js')).text()
      await server.close()
      const client = typeof createCloakroom
      console.log(JSON.stringify({ exports, version: pkg.version, resolved: import.meta.resolve('cloakroom'), invalid, health, client, servesClient: served.includes('export function createCloakroom') }))
    `)
    const { code, stdout, stderr } = await run(process.execPath, ['program.mjs'], app)
    assert.equal(code, 0, stderr)
    const result = JSON.parse(stdout) as { exports: Record<string, string>; version: string; resolved: string; invalid: string[]; health: number; client: string; servesClient: boolean }
    assert.equal(result.client, 'function', 'cloakroom/client exports createCloakroom')
    assert.equal(result.servesClient, true, 'the installed server serves /auth/client.js from the package')
    assert.deepEqual(result.exports, {
      ConfigError: 'function', createLogger: 'function', isConfigError: 'function', loadConfig: 'function', loadConfigFile: 'function', startServer: 'function',
    })
    assert.equal(result.version, (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version)
    assert.ok(result.resolved.endsWith('/app/node_modules/cloakroom/dist/index.js'), result.resolved)
    assert.ok(result.invalid.some((line) => line.startsWith('publicUrl: ')), JSON.stringify(result.invalid))
    assert.equal(result.health, 200)
  })

  test('its types check in a strict TypeScript consumer (types from dist/index.d.ts)', async () => {
    await writeFile(join(app, 'consumer.mts'), `
      import { createLogger, loadConfig, loadConfigFile, startServer, ConfigError, type Config, type RunningServer, type ServerOptions } from 'cloakroom'
      const config: Config = loadConfig('x: 1', {})
      const options: ServerOptions = { config: loadConfigFile('cloakroom.yaml', process.env), log: createLogger('info') }
      const server: RunningServer = await startServer(options)
      const port: number = server.port
      // @ts-expect-error a Config is checked
      const wrong: Config = { listen: 1 }
      export { config, port, wrong, ConfigError }
    `)
    await writeFile(join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        module: 'nodenext', target: 'es2024', strict: true, noEmit: true, skipLibCheck: false,
        // A consumer brings its own @types/node; borrow the repository's.
        types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')],
      },
      files: ['consumer.mts'],
    }))
    const { code, stdout, stderr } = await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', app], app)
    assert.equal(code, 0, stdout + stderr)
  })
})
