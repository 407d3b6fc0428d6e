import type { StoreConfig } from './types.ts'
import { readRedisUrl } from './urls.ts'
import { isAbsent, itemPath, type Problems, readChoice, readList, readMapping, readString, required, requireString } from './validate.ts'

type StoreType = StoreConfig['type']

const TYPES: readonly StoreType[] = ['redis', 'redis-cluster', 'redis-sentinel', 'memory']
// The keys each type reads beyond type and keyPrefix; any other type's key is refused, since an
// operator who wrote `nodes` under `type: redis` believes they have a cluster.
export const STORE_TYPE_KEYS: Readonly<Record<StoreType, readonly string[]>> = {
  redis: ['url'],
  'redis-cluster': ['nodes'],
  'redis-sentinel': ['sentinels', 'masterName'],
  memory: [],
}
/** The keys of `store`, for every type. */
export const STORE_KEYS: readonly string[] = ['type', 'keyPrefix', ...Object.values(STORE_TYPE_KEYS).flat()]

/** Reads `store` into the variant its `type` names. */
export function readStore(problems: Problems, value: unknown): StoreConfig {
  const store = readMapping(problems, 'store', value, STORE_KEYS)
  // default: redis, the store that survives restarts and is shared between instances
  const type = readChoice(problems, 'store.type', store.type, TYPES, 'redis')
  const typeValid = isAbsent(store.type) || store.type === type
  // default: "cloakroom:", so a shared Redis can tell our keys apart
  const keyPrefix = readString(problems, 'store.keyPrefix', store.keyPrefix, 'cloakroom:', true)
  // Which keys belong is unknowable without a valid type; the problem is recorded, the value unused.
  if (!typeValid) return { type: 'memory', keyPrefix }
  for (const [owner, keys] of Object.entries(STORE_TYPE_KEYS)) {
    for (const key of keys) {
      if (owner !== type && !isAbsent(store[key])) {
        problems.push(`store.${key}: only used with store type ${owner} (type is ${type})`)
      }
    }
  }
  switch (type) {
    case 'memory':
      return { type, keyPrefix }
    case 'redis':
      // default: a Redis on this host's standard port
      return { type, keyPrefix, url: isAbsent(store.url) ? 'redis://127.0.0.1:6379' : readRedisUrl(problems, 'store.url', store.url) ?? '' }
    case 'redis-cluster':
      return { type, keyPrefix, nodes: readUrlList(problems, 'store.nodes', store.nodes, 'seed nodes') }
    case 'redis-sentinel':
      return {
        type,
        keyPrefix,
        sentinels: readUrlList(problems, 'store.sentinels', store.sentinels, 'sentinels'),
        masterName: requireString(problems, 'store.masterName', store.masterName, 'the name of the master the sentinels watch') ?? '',
      }
  }
}

/** A required, non-empty list of redis(s):// URLs. */
function readUrlList(problems: Problems, path: string, value: unknown, what: string): readonly string[] {
  const expected = `a list of redis:// or rediss:// URLs of the ${what}`
  const list = readList(problems, path, value, expected)
  if (list === undefined) {
    if (isAbsent(value)) problems.push(required(path, expected))
    return []
  }
  if (list.length === 0) problems.push(`${path}: must list at least one of the ${what} (got an empty list)`)
  return list.flatMap((item, index) => readRedisUrl(problems, itemPath(path, index), item) ?? [])
}
