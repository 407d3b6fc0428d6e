import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'

/** Seals store records so that someone who can only read the store learns nothing and can replay nothing. */
export interface RecordCipher {
  /** Encrypts `plaintext` under the first secret, bound to `aad` (the record's key). */
  seal(plaintext: string, aad: string): string
  /** Decrypts with whichever secret sealed it; undefined for anything tampered, foreign, or bound to another `aad`. */
  open(sealed: string, aad: string): string | undefined
}

interface RecordKey { readonly id: string; readonly key: Buffer }

// Distinct salt/info keep these keys apart from any other use of the same session secrets (the cookie seal).
const HKDF_SALT = 'cloakroom record v1'
const HKDF_INFO = 'cloakroom record v1 aes-256-gcm'
const IV_BYTES = 12 // 96-bit IV: the size GCM is specified for (NIST SP 800-38D 8.2)
const TAG_BYTES = 16

function deriveKey(secret: string): RecordKey {
  const key = Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, HKDF_INFO, 32))
  // A key id lets open() pick the right key after rotation without trial decryption of every key.
  const id = createHash('sha256').update(key).digest('hex').slice(0, 8)
  return { id, key }
}

/** Strict base64url: rejects anything that would not re-encode to the same text, so each blob has one spelling. */
function fromBase64url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url')
  return bytes.toString('base64url') === text ? bytes : undefined
}

function decrypt(key: Buffer, iv: Buffer, body: Buffer, aad: string): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(aad, 'utf8'))
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES))
    const plain = Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()])
    return plain.toString('utf8')
  } catch {
    return undefined
  }
}

/**
 * AES-256-GCM record encryption with a key ring: the first secret seals, every secret opens (rotation).
 * Format: `<key id>.<iv>.<ciphertext + tag>`, base64url parts.
 */
export function createRecordCipher(secrets: readonly string[]): RecordCipher {
  const keys = secrets.map(deriveKey)
  const sealing = keys[0]
  if (sealing === undefined) throw new Error('createRecordCipher needs at least one secret')

  return {
    seal(plaintext, aad) {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', sealing.key, iv, { authTagLength: TAG_BYTES })
      cipher.setAAD(Buffer.from(aad, 'utf8'))
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
      return `${sealing.id}.${iv.toString('base64url')}.${body.toString('base64url')}`
    },

    open(sealed, aad) {
      const [id, ivText, bodyText, extra] = sealed.split('.')
      if (id === undefined || ivText === undefined || bodyText === undefined || extra !== undefined) return undefined
      const iv = fromBase64url(ivText)
      const body = fromBase64url(bodyText)
      if (iv?.length !== IV_BYTES || body === undefined || body.length < TAG_BYTES) return undefined
      // Ids are 32 bits: two secrets may share one, so try each match.
      for (const candidate of keys) {
        if (candidate.id !== id) continue
        const plain = decrypt(candidate.key, iv, body, aad)
        if (plain !== undefined) return plain
      }
      return undefined
    },
  }
}
