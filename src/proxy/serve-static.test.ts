import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Context } from 'koa'
import { serveStatic } from './serve-static.ts'

let root: string
let site: string
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'cloakroom-static-test-'))
  site = join(root, 'site')
  await mkdir(join(site, 'assets'), { recursive: true })
  await writeFile(join(site, 'index.html'), '<p>index</p>')
  await writeFile(join(site, 'assets', 'app.js'), 'console.log(1)')
  await writeFile(join(root, 'secret.txt'), 'outside the folder')
  await symlink(join(root, 'secret.txt'), join(site, 'link.txt'))
})
after(() => rm(root, { recursive: true, force: true }))

/** The parts of a Koa context serveStatic touches. */
function fakeContext(method = 'GET') {
  const headers: Record<string, string> = {}
  const ctx = { method, type: '', length: 0, body: undefined as unknown, set: (name: string, value: string) => { headers[name] = value } }
  return { ctx: ctx as unknown as Context & typeof ctx, headers }
}

async function served(path: string): Promise<string> {
  const { ctx } = fakeContext()
  await serveStatic(ctx, site, path)
  const chunks: Buffer[] = []
  for await (const chunk of ctx.body as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks).toString()
}

test('serves the named file with its type, and index.html for anything else', async () => {
  assert.equal(await served('/assets/app.js'), 'console.log(1)')
  const { ctx } = fakeContext()
  await serveStatic(ctx, site, '/assets/app.js')
  assert.equal(ctx.type, 'text/javascript; charset=utf-8')
  assert.equal(await served('/some/client/route'), '<p>index</p>')
  assert.equal(await served('/assets'), '<p>index</p>', 'a folder is not a file')
})

test('nothing outside the folder: traversal, encoded traversal and NUL fall back to index.html', async () => {
  for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/assets/../../secret.txt', '/secret.txt%00.html']) {
    assert.equal(await served(path), '<p>index</p>', path)
  }
})

test('a malformed escape is a bad request; methods other than GET and HEAD are not found', async () => {
  await assert.rejects(serveStatic(fakeContext().ctx, site, '/%zz'), { code: 'bad_request' })
  await assert.rejects(serveStatic(fakeContext('POST').ctx, site, '/'), { code: 'not_found' })
})
