/**
 * The reference and the example keep up with the validator: every key loadConfig accepts (CONFIG_KEYS,
 * built from the readers' own key lists) is documented in docs/configuration.md and written in
 * config/example.yaml, and neither holds a key the validator refuses.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { parse, stringify } from 'yaml'
import { CONFIG_KEYS, ConfigError, loadConfig } from './index.ts'
import { STORE_TYPE_KEYS } from './read-store.ts'

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')

// A free mapping: its keys are authorization request parameters, not config keys.
const FREE_MAPPINGS = ['oidc.authorizationParams']
// Keys that only apply to another choice than the example's (another store type, another client
// authentication, a folder instead of a target): these may be written commented out.
const ALTERNATIVES = [
  ...Object.values(STORE_TYPE_KEYS).flat().map((key) => `store.${key}`),
  'oidc.clientSecret', 'oidc.privateKeyFile', 'routes[].target', 'routes[].static',
]

/** The key paths docs/configuration.md documents: the first cell of its table rows, `like.this`. */
function documentedKeys(markdown: string): string[] {
  return [...markdown.matchAll(/^\| `([^`]+)` \|/gm)].map((match) => match[1] ?? '')
}

/** The key paths a YAML text writes. */
function keysOf(yaml: string): string[] {
  const paths: string[] = []
  const walk = (value: unknown, prefix: string): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item, `${prefix}[]`)
    } else if (typeof value === 'object' && value !== null && !FREE_MAPPINGS.includes(prefix)) {
      for (const [key, child] of Object.entries(value)) {
        const path = prefix === '' ? key : `${prefix}.${key}`
        paths.push(path)
        walk(child, path)
      }
    }
  }
  walk(parse(yaml), '')
  return [...new Set(paths)]
}

/**
 * config/example.yaml with its commented-out keys written in: a comment line that starts with a known
 * key name and a colon (`  # nodes: […]`) is read as that key at that indentation.
 */
function uncommented(yaml: string): string {
  const names = new Set(CONFIG_KEYS.map((path) => path.split(/\.|\[\]\./).at(-1)))
  return yaml.replace(/^(\s*)# ([A-Za-z]\w*):(?=\s|$)/gm, (line, indent: string, name: string) => names.has(name) ? `${indent}${name}:` : line)
}

test('every key the validator accepts is documented in docs/configuration.md and appears in config/example.yaml', () => {
  const documented = documentedKeys(read('docs/configuration.md'))
  const active = keysOf(read('config/example.yaml'))
  const example = keysOf(uncommented(read('config/example.yaml')))
  assert.deepEqual(CONFIG_KEYS.filter((key) => !documented.includes(key)), [], 'accepted but not in a table row of docs/configuration.md')
  assert.deepEqual(documented.filter((key) => !CONFIG_KEYS.includes(key)), [], 'documented in docs/configuration.md but refused by the validator')
  assert.deepEqual(documented.filter((key, index) => documented.indexOf(key) !== index), [], 'documented twice')
  assert.deepEqual(CONFIG_KEYS.filter((key) => !active.includes(key) && !(ALTERNATIVES.includes(key) && example.includes(key))), [],
    'accepted but missing from config/example.yaml (only a key of another choice may be commented out)')
  assert.deepEqual(example.filter((key) => !CONFIG_KEYS.includes(key)), [], 'in config/example.yaml but refused by the validator')
})

// The keys of CONFIG_KEYS as the validator sees them: routes[] is the first route.
type Segment = string | number
const segmentsOf = (path: string): Segment[] => path.split('.').flatMap((part) => part.endsWith('[]') ? [part.slice(0, -2), 0] : [part])
const shown = (path: string) => path.replaceAll('[]', '[0]')

const SECRET = 's'.repeat(32)
/** A valid config with every section written, so that a key can be set anywhere. */
const BASE = {
  listen: { host: '127.0.0.1', port: 8080 },
  publicUrl: 'https://app.example.com',
  oidc: { issuer: 'https://idp.example.com', clientId: 'spa', clientSecret: 'client-secret' },
  session: { secrets: [SECRET] },
  store: { type: 'memory' },
  tokens: {},
  timeouts: {},
  login: {},
  metrics: { listen: { port: 9464 } },
  admin: { listen: { port: 9465 }, token: 'admin-token-0123456789-0123456789-01' },
  csrf: {},
  routes: [{ path: '/api', target: 'http://127.0.0.1:7000' }],
}

function linesWith(path: string, value: unknown): readonly string[] {
  const document: Record<Segment, unknown> = structuredClone(BASE)
  const segments = segmentsOf(path)
  let parent = document
  segments.slice(0, -1).forEach((segment) => {
    parent = parent[segment] as Record<Segment, unknown>
  })
  parent[segments.at(-1) ?? ''] = value
  try {
    loadConfig(stringify(document), {})
    return []
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error))
    return error.lines
  }
}

test('CONFIG_KEYS lists exactly the keys the validator accepts, sections and all', () => {
  assert.deepEqual(linesWith('tokens', {}), [], 'the base config is valid')
  const sections = ['', ...CONFIG_KEYS.filter((key) => CONFIG_KEYS.some((other) => other.startsWith(`${key}.`) || other.startsWith(`${key}[].`)))]
    .map((key) => CONFIG_KEYS.includes(`${key}[].path`) ? `${key}[]` : key)
  for (const key of CONFIG_KEYS) {
    // Each key is taken where it stands (another store type's key draws "only used with", not "unknown").
    const unknown = linesWith(key, null).filter((line) => line.includes('unknown key'))
    assert.deepEqual(unknown, [], key)
  }
  for (const section of sections) {
    // A section checks its keys: an unknown one is refused by its full path.
    const value = section === '' ? undefined : segmentsOf(section).reduce<unknown>((parent, segment) => (parent as Record<Segment, unknown>)[segment], BASE)
    const lines = section === '' ? linesWith('zzzUnknown', 1) : linesWith(section, { ...(value as object), zzzUnknown: 1 })
    const path = section === '' ? 'zzzUnknown' : `${shown(section)}.zzzUnknown`
    assert.ok(lines.some((line) => line.startsWith(`${path}: unknown key`)), `${path} is refused: ${lines.join(' | ')}`)
  }
  for (const key of CONFIG_KEYS.filter((path) => !sections.includes(path) && !sections.includes(`${path}[]`))) {
    // A key that is not a section checks no keys under it; if it did, CONFIG_KEYS would be missing them.
    const lines = linesWith(key, { zzzUnknown: 1 })
    assert.ok(!lines.some((line) => line.startsWith(`${shown(key)}.zzzUnknown: unknown key`)), `${key} has keys of its own: ${lines.join(' | ')}`)
  }
})
