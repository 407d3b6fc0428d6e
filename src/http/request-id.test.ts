import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { nextRequestId } from './request-id.ts'

test('request ids are unique within a process and between processes, and safe in a header', () => {
  const ids = Array.from({ length: 10_000 }, () => nextRequestId())
  assert.equal(new Set(ids).size, ids.length)
  for (const id of ids.slice(0, 100)) assert.match(id, /^[\w-]{12}-[0-9a-z]+$/)
  const other = execFileSync(process.execPath, ['--input-type=module', '-e', `import { nextRequestId } from ${JSON.stringify(new URL('./request-id.ts', import.meta.url).href)}; console.log(nextRequestId())`]).toString().trim()
  assert.notEqual(other.slice(0, 12), ids[0]?.slice(0, 12), 'another process has another prefix')
})
