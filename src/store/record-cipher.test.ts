import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createRecordCipher } from './record-cipher.ts'

const OLD = 'old-secret-old-secret-old-secret-0001'
const NEW = 'new-secret-new-secret-new-secret-0002'
const PLAIN = JSON.stringify({ accessToken: 'at-7f3c9e1d-plaintext-marker', sub: 'user-42' })
const AAD = 'cloakroom:session:abc'

/** Replaces the character at `index` with a different base64url character. */
function flipChar(text: string, index: number): string {
  const replacement = text[index] === 'A' ? 'B' : 'A'
  return text.slice(0, index) + replacement + text.slice(index + 1)
}

describe('createRecordCipher', () => {
  test('opens what it sealed', () => {
    const cipher = createRecordCipher([NEW])
    assert.equal(cipher.open(cipher.seal(PLAIN, AAD), AAD), PLAIN)
  })

  test('round-trips empty and non-ASCII text', () => {
    const cipher = createRecordCipher([NEW])
    for (const text of ['', 'ünïcødé ✓ 🧥']) assert.equal(cipher.open(cipher.seal(text, AAD), AAD), text)
  })

  test('the sealed text contains neither the plaintext nor parts of it', () => {
    const sealed = createRecordCipher([NEW]).seal(PLAIN, AAD)
    assert.ok(!sealed.includes('at-7f3c9e1d'))
    assert.ok(!sealed.includes('user-42'))
    assert.ok(!sealed.includes(Buffer.from(PLAIN).toString('base64url').slice(0, 12)))
  })

  test('sealing twice gives different blobs (fresh IV)', () => {
    const cipher = createRecordCipher([NEW])
    assert.notEqual(cipher.seal(PLAIN, AAD), cipher.seal(PLAIN, AAD))
  })

  test('rotation: a blob sealed under the old first secret opens once that secret is second', () => {
    const sealed = createRecordCipher([OLD]).seal(PLAIN, AAD)
    const rotated = createRecordCipher([NEW, OLD])
    assert.equal(rotated.open(sealed, AAD), PLAIN)
    // The new first secret seals: the old ring alone can no longer open new blobs.
    assert.equal(createRecordCipher([OLD]).open(rotated.seal(PLAIN, AAD), AAD), undefined)
  })

  test('a blob sealed by a secret no longer in the ring does not open', () => {
    const sealed = createRecordCipher([OLD]).seal(PLAIN, AAD)
    assert.equal(createRecordCipher([NEW]).open(sealed, AAD), undefined)
  })

  test('a blob bound to one key does not open under another (wrong aad)', () => {
    const cipher = createRecordCipher([NEW])
    assert.equal(cipher.open(cipher.seal(PLAIN, AAD), 'cloakroom:session:other'), undefined)
  })

  test('any tampered character gives undefined, never a throw', () => {
    const cipher = createRecordCipher([NEW])
    const sealed = cipher.seal(PLAIN, AAD)
    for (let index = 0; index < sealed.length; index++) {
      if (sealed[index] === '.') continue
      assert.equal(cipher.open(flipChar(sealed, index), AAD), undefined, `tampered at ${index}`)
    }
  })

  test('malformed input gives undefined, never a throw', () => {
    const cipher = createRecordCipher([NEW])
    const sealed = cipher.seal(PLAIN, AAD)
    const [id = '', iv = ''] = sealed.split('.')
    const cases = ['', '.', '..', '...', 'x.y.z', sealed + '.', sealed.slice(0, -4), `${id}.${iv}.`, `${id}.${iv}.AAAA`, `${id}..${sealed}`]
    for (const input of cases) assert.equal(cipher.open(input, AAD), undefined, JSON.stringify(input))
  })

  test('refuses an empty key ring', () => {
    assert.throws(() => createRecordCipher([]), /at least one secret/)
  })
})
