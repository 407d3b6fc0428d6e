import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Koa from 'koa'
import { pino } from 'pino'
import type { AppState } from './app-state.ts'
import { requestPath } from './authorize-route.ts'
import { problemMiddleware } from './middleware/problem.ts'
import { staticFiles, staticTarget } from './static-files.ts'

const INDEX = '<p>index</p>'
let root: string
let server: Server
let port: number
let unhandled = 0

// A Koa app like the real one for a `static: <site>` route on `/`: problem middleware in front, so each
// test sees the status and body a browser would, and a 500 (a bug) is counted.
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cloakroom-static-test-'))
  const site = join(root, 'site')
  await mkdir(join(site, 'assets'), { recursive: true })
  await mkdir(join(site, '.git'))
  await mkdir(join(root, 'outside-dir'))
  await writeFile(join(site, 'index.html'), INDEX)
  await writeFile(join(site, 'assets', 'app.js'), 'console.log(1)')
  await writeFile(join(site, 'assets', '.hidden.js'), 'hidden')
  await writeFile(join(site, '.env'), 'SECRET=1')
  await writeFile(join(site, '.git', 'config'), '[core]')
  await writeFile(join(root, 'secret.txt'), 'outside the folder')
  await writeFile(join(root, 'outside-dir', 'secret.js'), 'outside the folder')
  await symlink(join(root, 'secret.txt'), join(site, 'link.txt'))
  await symlink('/etc/hostname', join(site, 'hostname.txt'))
  await symlink(join(root, 'outside-dir'), join(site, 'linked-dir'))
  await symlink(join(site, 'assets', 'app.js'), join(site, 'alias.js'))
  await symlink('.env', join(site, 'env.txt'))

  const log = pino({ level: 'silent' })
  const app = new Koa<AppState>()
  app.use(async (ctx, next) => {
    ctx.state.log = log
    await next()
    if (ctx.status === 500) unhandled++
  })
  app.use(problemMiddleware())
  app.use((ctx) => staticFiles(ctx, site, requestPath(ctx.req.url ?? '/')))
  server = app.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  port = (server.address() as AddressInfo).port
})
after(async () => {
  await new Promise((resolve) => server.close(resolve))
  await rm(root, { recursive: true, force: true })
  assert.equal(unhandled, 0, 'no request was answered 500')
})

interface Answer { status: number; type: string; body: string; headers: Record<string, string | string[] | undefined> }

/** A request whose path goes out exactly as written (fetch would normalise dot segments and escapes). */
function get(path: string, options: { method?: string; accept?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = options.accept === undefined ? {} : { accept: options.accept }
    const req = request({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body, headers: res.headers }))
    })
    req.on('error', reject)
    req.end()
  })
}

async function assertNotFound(path: string, accept?: string): Promise<void> {
  const answer = await get(path, { accept })
  assert.equal(answer.status, 404, path)
  assert.equal(answer.type, 'application/problem+json', `${path}: a problem, not index.html`)
  assert.equal((JSON.parse(answer.body) as { code: string }).code, 'not_found', path)
}

test('a symbolic link to a file outside the folder is not found, not served', async () => {
  for (const path of ['/hostname.txt', '/link.txt']) {
    await assertNotFound(path)
    await assertNotFound(path, 'text/html')
  }
})

test('a symbolic link to a folder outside the folder is not found, not served', async () => {
  await assertNotFound('/linked-dir/secret.js')
  await assertNotFound('/linked-dir/secret.js', 'text/html')
})

test('a symbolic link to a file inside the folder is served', async () => {
  const answer = await get('/alias.js')
  assert.equal(answer.status, 200)
  assert.equal(answer.body, 'console.log(1)')
  assert.equal(answer.type, 'text/javascript; charset=utf-8')
})

test('dotfiles and dot folders are not found and never fall back to index.html, also percent-encoded or asked as a page', async () => {
  for (const path of ['/.env', '/.git/config', '/.git', '/assets/.hidden.js', '/%2eenv', '/%2Egit/config', '/env.txt', '/.not-there']) {
    await assertNotFound(path)
    await assertNotFound(path, 'text/html')
  }
})

test('a missing asset is not found: no index.html for a script or the favicon', async () => {
  await assertNotFound('/missing.js')
  await assertNotFound('/favicon.ico')
  await assertNotFound('/assets/missing.css', 'text/css,*/*;q=0.1')
})

test('a page navigation gets index.html: a path without an extension, or any path that accepts text/html', async () => {
  for (const [path, accept] of [['/some/client/route', undefined], ['/', undefined], ['/assets', undefined], ['/x.js', 'text/html,application/xhtml+xml,*/*;q=0.8']] as const) {
    const answer = await get(path, { accept })
    assert.equal(answer.status, 200, path)
    assert.equal(answer.type, 'text/html; charset=utf-8', path)
    assert.equal(answer.body, INDEX, path)
    assert.equal(answer.headers['cache-control'], 'no-cache', `${path}: index.html is revalidated`)
  }
})

test('an existing asset is served with its type, nosniff and a short cache', async () => {
  const answer = await get('/assets/app.js')
  assert.equal(answer.status, 200)
  assert.equal(answer.body, 'console.log(1)')
  assert.equal(answer.type, 'text/javascript; charset=utf-8')
  assert.equal(answer.headers['x-content-type-options'], 'nosniff')
  assert.equal(answer.headers['cache-control'], 'public, max-age=300')
})

test('HEAD answers like GET, without a body', async () => {
  const answer = await get('/assets/app.js', { method: 'HEAD' })
  assert.equal(answer.status, 200)
  assert.equal(answer.type, 'text/javascript; charset=utf-8')
  assert.equal(answer.headers['content-length'], String('console.log(1)'.length))
  assert.equal(answer.body, '')
  assert.equal((await get('/some/page', { method: 'HEAD' })).status, 200)
  assert.equal((await get('/.env', { method: 'HEAD' })).status, 404)
})

test('methods other than GET and HEAD are not found', async () => {
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const answer = await get('/assets/app.js', { method })
    assert.equal(answer.status, 404, method)
    assert.equal(answer.type, 'application/problem+json', method)
  }
})

test('traversal, NUL bytes and bad escapes are refused as problems, never a 500 or a file outside', async () => {
  // Dot segments never get this far: the request-target check refuses them as 400 first.
  for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt']) {
    const answer = await get(path)
    assert.equal(answer.status, 400, path)
    assert.equal((JSON.parse(answer.body) as { code: string }).code, 'bad_request', path)
  }
  for (const path of ['/..%2fsecret.txt', '/secret.txt%00.html', '/assets/app.js%00', '/%00']) await assertNotFound(path)
  const bad = await get('/%zz')
  assert.equal(bad.status, 400)
  assert.equal((JSON.parse(bad.body) as { code: string }).code, 'bad_request')
})

test('only a navigation falls back: no extension, or text/html accepted (not a wildcard, not q=0)', () => {
  const table: ReadonlyArray<[string, string, boolean]> = [
    ['/some/route', '', true], ['/', '', true], ['/x.js', '', false], ['/favicon.ico', 'image/*,*/*;q=0.8', false],
    ['/x.js', '*/*', false], ['/x.js', 'text/html', true], ['/x.js', 'Text/HTML; q=0.9', true], ['/x.js', 'text/html;q=0', false],
  ]
  for (const [path, accept, fallback] of table) {
    assert.equal(staticTarget({ method: 'GET', path, accept }).fallback, fallback, `${path} with Accept: ${accept}`)
  }
})
