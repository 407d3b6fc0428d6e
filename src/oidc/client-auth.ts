import { readFile } from 'node:fs/promises'
import { createPrivateKey, type KeyObject } from 'node:crypto'
import * as client from 'openid-client'
import { ConfigError, type OidcConfig } from '../config/index.ts'

/** Builds openid-client's client authentication for the configured method (its default would be client_secret_post). */
export async function createClientAuth(oidc: OidcConfig): Promise<client.ClientAuth> {
  switch (oidc.tokenEndpointAuthMethod) {
    case 'client_secret_basic': return client.ClientSecretBasic(oidc.clientSecret)
    case 'client_secret_post': return client.ClientSecretPost(oidc.clientSecret)
    case 'none': return client.None()
    case 'private_key_jwt': {
      if (oidc.privateKeyFile === undefined) throw new Error('oidc.privateKeyFile is required for private_key_jwt')
      return client.PrivateKeyJwt(await loadPrivateKey(oidc.privateKeyFile))
    }
  }
}

async function loadPrivateKey(file: string): Promise<client.PrivateKey> {
  try {
    return await readPrivateKey(file)
  } catch (error) {
    const reason = (error as { code?: unknown }).code === 'ENOENT' ? 'no such file' : 'not a readable PEM or JWK private key'
    throw new ConfigError([`oidc.privateKeyFile: ${reason} (${file})`])
  }
}

async function readPrivateKey(file: string): Promise<client.PrivateKey> {
  const text = await readFile(file, 'utf8')
  const isJwk = text.trimStart().startsWith('{')
  const jwk = isJwk ? (JSON.parse(text) as { kid?: unknown }) : undefined
  const keyObject = jwk === undefined
    ? createPrivateKey(text)
    : createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' })
  const key = await keyObject.toCryptoKey(signingAlgorithm(keyObject), false, ['sign'])
  return typeof jwk?.kid === 'string' ? { key, kid: jwk.kid } : { key }
}

function signingAlgorithm(key: KeyObject): Parameters<KeyObject['toCryptoKey']>[0] {
  switch (key.asymmetricKeyType) {
    case 'rsa': return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
    case 'ec': return { name: 'ECDSA', namedCurve: key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : 'P-256' }
    case 'ed25519': return { name: 'Ed25519' }
    default: throw new Error(`unsupported private key type ${String(key.asymmetricKeyType)}`)
  }
}
