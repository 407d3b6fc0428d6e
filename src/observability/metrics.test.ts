import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { parse as parseYaml } from 'yaml'
import { loadConfig } from '../config/index.ts'
import { createMetrics, DURATION_BUCKETS, serveMetrics, upstreamOutcome, type Metrics } from './metrics.ts'

/** The sample lines of one metric family (its name, then `{` or a space), in rendered order. */
async function samples(metrics: Metrics, name: string): Promise<string[]> {
  const text = await metrics.render()
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
}

/** One call of every method, so every Cloakroom series exists. */
function touchEverything(metrics: Metrics): void {
  metrics.observeRequest('/api', 'GET', 200, 0.002)
  metrics.observeUpstream('/api', '2xx', 0.001)
  metrics.refresh('ok')
  metrics.login('ok')
  metrics.sessionStarted()
  metrics.sessionEnded('logout')
  metrics.storeError('getSession')
  metrics.idpError('refresh')
}

describe('createMetrics', () => {
  test('observeRequest: one histogram series per route, method and status, with cumulative buckets, sum and count', async () => {
    const metrics = createMetrics()
    // Sums of binary fractions (2^-8 s, 2^-12 s), so the sum prints exactly.
    metrics.observeRequest('/api', 'GET', 200, 0.00390625)
    metrics.observeRequest('/api', 'GET', 200, 0.000244140625)
    metrics.observeRequest('/auth/login', 'GET', 302, 12)
    const labels = 'route="/api",method="GET",status="200"'
    assert.deepEqual(await samples(metrics, 'cloakroom_http_request_duration_seconds_bucket').then((lines) => lines.filter((line) => line.includes(labels))), [
      `cloakroom_http_request_duration_seconds_bucket{le="0.0005",${labels}} 1`,
      `cloakroom_http_request_duration_seconds_bucket{le="0.001",${labels}} 1`,
      `cloakroom_http_request_duration_seconds_bucket{le="0.0025",${labels}} 1`,
      ...['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'].map((le) => `cloakroom_http_request_duration_seconds_bucket{le="${le}",${labels}} 2`),
    ])
    assert.deepEqual(await samples(metrics, 'cloakroom_http_request_duration_seconds_count'), [
      `cloakroom_http_request_duration_seconds_count{${labels}} 2`,
      'cloakroom_http_request_duration_seconds_count{route="/auth/login",method="GET",status="302"} 1',
    ])
    const over = await samples(metrics, 'cloakroom_http_request_duration_seconds_bucket')
    assert.ok(over.includes('cloakroom_http_request_duration_seconds_bucket{le="10",route="/auth/login",method="GET",status="302"} 0'))
    assert.ok(over.includes('cloakroom_http_request_duration_seconds_bucket{le="+Inf",route="/auth/login",method="GET",status="302"} 1'))
    assert.deepEqual(await samples(metrics, 'cloakroom_http_request_duration_seconds_sum'), [
      `cloakroom_http_request_duration_seconds_sum{${labels}} 0.004150390625`,
      'cloakroom_http_request_duration_seconds_sum{route="/auth/login",method="GET",status="302"} 12',
    ])
  })

  test('buckets run from 0.5 ms to 10 s', () => {
    assert.equal(DURATION_BUCKETS[0], 0.0005)
    assert.equal(DURATION_BUCKETS.at(-1), 10)
    assert.deepEqual([...DURATION_BUCKETS].sort((a, b) => a - b), DURATION_BUCKETS)
  })

  test('a method outside the common set is counted as OTHER, never as itself', async () => {
    const metrics = createMetrics()
    metrics.observeRequest('/api', 'PROPFIND', 405, 0.001)
    metrics.observeRequest('/api', 'MKCOL', 405, 0.001)
    assert.deepEqual(await samples(metrics, 'cloakroom_http_request_duration_seconds_count'), [
      'cloakroom_http_request_duration_seconds_count{route="/api",method="OTHER",status="405"} 2',
    ])
  })

  test('observeUpstream: by route and outcome', async () => {
    const metrics = createMetrics()
    metrics.observeUpstream('/api', upstreamOutcome(204), 0.01)
    metrics.observeUpstream('/api', upstreamOutcome(503), 0.02)
    metrics.observeUpstream('/api', 'timeout', 60)
    metrics.observeUpstream('/api', upstreamOutcome(201), 0.03)
    assert.deepEqual(await samples(metrics, 'cloakroom_upstream_duration_seconds_count'), [
      'cloakroom_upstream_duration_seconds_count{route="/api",outcome="2xx"} 2',
      'cloakroom_upstream_duration_seconds_count{route="/api",outcome="5xx"} 1',
      'cloakroom_upstream_duration_seconds_count{route="/api",outcome="timeout"} 1',
    ])
  })

  test('upstreamOutcome names the status class', () => {
    assert.deepEqual([101, 200, 299, 304, 401, 404, 500, 504].map(upstreamOutcome), ['1xx', '2xx', '2xx', '3xx', '4xx', '4xx', '5xx', '5xx'])
  })

  test('counters: every value of a closed set is there from the start at 0, and counts what was called', async () => {
    const metrics = createMetrics()
    metrics.refresh('ok')
    metrics.refresh('ok')
    metrics.refresh('unavailable')
    metrics.login('refused')
    metrics.sessionStarted()
    metrics.sessionStarted()
    metrics.sessionStarted()
    metrics.sessionEnded('idle_timeout')
    metrics.sessionEnded('backchannel_logout')
    metrics.storeError('getSession')
    metrics.storeError('custom')
    metrics.idpError('jwks')
    assert.deepEqual(await samples(metrics, 'cloakroom_token_refreshes_total'), [
      'cloakroom_token_refreshes_total{outcome="ok"} 2',
      'cloakroom_token_refreshes_total{outcome="invalid_grant"} 0',
      'cloakroom_token_refreshes_total{outcome="unavailable"} 1',
    ])
    assert.deepEqual(await samples(metrics, 'cloakroom_logins_total'), [
      'cloakroom_logins_total{result="ok"} 0',
      'cloakroom_logins_total{result="refused"} 1',
    ])
    assert.deepEqual(await samples(metrics, 'cloakroom_sessions_started_total'), ['cloakroom_sessions_started_total 3'])
    assert.deepEqual(await samples(metrics, 'cloakroom_sessions_ended_total'), [
      'cloakroom_sessions_ended_total{reason="logout"} 0',
      'cloakroom_sessions_ended_total{reason="backchannel_logout"} 1',
      'cloakroom_sessions_ended_total{reason="refresh_refused"} 0',
      'cloakroom_sessions_ended_total{reason="idle_timeout"} 1',
      'cloakroom_sessions_ended_total{reason="absolute_timeout"} 0',
      'cloakroom_sessions_ended_total{reason="admin"} 0',
      'cloakroom_sessions_ended_total{reason="user"} 0',
    ])
    const storeErrors = await samples(metrics, 'cloakroom_store_errors_total')
    assert.ok(storeErrors.includes('cloakroom_store_errors_total{operation="getSession"} 1'))
    assert.ok(storeErrors.includes('cloakroom_store_errors_total{operation="updateSessionFenced"} 0'))
    assert.ok(storeErrors.includes('cloakroom_store_errors_total{operation="custom"} 1'))
    assert.deepEqual(await samples(metrics, 'cloakroom_idp_errors_total'), [
      'cloakroom_idp_errors_total{operation="discovery"} 0',
      'cloakroom_idp_errors_total{operation="code_grant"} 0',
      'cloakroom_idp_errors_total{operation="refresh"} 0',
      'cloakroom_idp_errors_total{operation="revocation"} 0',
      'cloakroom_idp_errors_total{operation="jwks"} 1',
      'cloakroom_idp_errors_total{operation="end_session"} 0',
    ])
  })

  test('two instances share nothing (several servers, or tests, in one process)', async () => {
    const first = createMetrics()
    const second = createMetrics()
    first.observeRequest('/api', 'GET', 200, 0.001)
    first.sessionStarted()
    assert.deepEqual(await samples(second, 'cloakroom_http_request_duration_seconds_count'), [])
    assert.deepEqual(await samples(second, 'cloakroom_sessions_started_total'), ['cloakroom_sessions_started_total 0'])
    assert.deepEqual(await samples(first, 'cloakroom_sessions_started_total'), ['cloakroom_sessions_started_total 1'])
  })

  test("the process's default metrics are there: event-loop lag, heap, resident memory, GC", async () => {
    const text = await createMetrics().render()
    for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'process_resident_memory_bytes']) {
      assert.match(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'))
      assert.match(text, new RegExp(`^${name} \\d`, 'm'))
    }
    assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m)
  })

  test('contentType is the Prometheus text format', () => {
    assert.equal(createMetrics().contentType, 'text/plain; version=0.0.4; charset=utf-8')
  })
})

describe('serveMetrics', () => {
  test('GET /metrics is 200 with the rendered text; any other path or method is 404', async (t) => {
    const metrics = createMetrics()
    metrics.login('ok')
    const server = await serveMetrics(metrics, { host: '127.0.0.1', port: 0 })
    t.after(() => server.close())
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const ok = await fetch(`${base}/metrics`)
    assert.equal(ok.status, 200)
    assert.equal(ok.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
    const body = await ok.text()
    assert.match(body, /^cloakroom_logins_total\{result="ok"\} 1$/m)
    assert.match(body, /^process_resident_memory_bytes \d/m)
    for (const [method, path] of [['GET', '/'], ['GET', '/metrics/'], ['GET', '/metrics?x=1'], ['GET', '/other'], ['POST', '/metrics'], ['HEAD', '/metrics']] as const) {
      const answer = await fetch(`${base}${path}`, { method })
      assert.equal(answer.status, 404, `${method} ${path}`)
      await answer.arrayBuffer()
    }
  })

  test('a port already taken rejects', async (t) => {
    const first = await serveMetrics(createMetrics(), { host: '127.0.0.1', port: 0 })
    t.after(() => first.close())
    const { port } = first.address() as AddressInfo
    await assert.rejects(serveMetrics(createMetrics(), { host: '127.0.0.1', port }), { code: 'EADDRINUSE' })
  })
})

describe('the Grafana dashboard (deploy/grafana/dashboards/cloakroom.json)', () => {
  test('every metric its queries name is one createMetrics() renders', async () => {
    const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/dashboards/cloakroom.json', import.meta.url), 'utf8')) as unknown
    const expressions = collectExpressions(dashboard)
    assert.ok(expressions.length >= 10, `only ${expressions.length} queries`)
    const metrics = createMetrics()
    touchEverything(metrics)
    const text = await metrics.render()
    const rendered = new Set(text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).map((line) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0]))
    // A histogram nothing has observed yet (GC, until the first collection) has its TYPE line only.
    for (const [, name] of text.matchAll(/^# TYPE (\S+) histogram$/gm)) for (const suffix of ['_bucket', '_sum', '_count']) rendered.add(`${name}${suffix}`)
    const named = new Set(expressions.flatMap(metricNames))
    assert.ok(named.size >= 10)
    for (const name of named) assert.ok(rendered.has(name), `the dashboard queries ${name}, which Cloakroom does not expose`)
  })
})

/** Every `expr` in a dashboard's panels (and rows' panels). */
function collectExpressions(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(collectExpressions)
  if (typeof value !== 'object' || value === null) return []
  return Object.entries(value).flatMap(([key, inner]) => (key === 'expr' && typeof inner === 'string' ? [inner] : collectExpressions(inner)))
}

// PromQL words that are not metric names: functions, aggregations, keywords, and label names inside by (…).
const PROMQL_WORDS = new Set(['sum', 'rate', 'irate', 'increase', 'histogram_quantile', 'by', 'without', 'max', 'min', 'avg', 'count', 'topk', 'clamp_min', 'or', 'and', 'unless', 'on', 'ignoring', 'group_left', 'group_right', 'le', 'vector', 'label_replace', 'offset', 'bool'])

/** The metric names in a PromQL expression: identifiers outside strings, braces and by(…) lists, that are not PromQL words. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\$\{?\w+\}?/g, '')
  return [...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((match) => match[0]).filter((word) => !PROMQL_WORDS.has(word) && !/^\d/.test(word))
}

describe('deploy/docker-compose.yml', () => {
  const deploy = new URL('../../deploy/', import.meta.url)
  const compose = parseYaml(readFileSync(new URL('docker-compose.yml', deploy), 'utf8')) as ComposeFile
  const service = (name: string): ComposeService => {
    const found = compose.services[name]
    assert.ok(found, `no service ${name}`)
    return found
  }
  // Compose's own interpolation, for the defaults the file gives (nothing set in the environment).
  const interpolate = (value: string): string => value.replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_, _name, fallback: string | undefined) => fallback ?? '')
  const environment = (name: string): Record<string, string> =>
    Object.fromEntries(Object.entries(service(name).environment ?? {}).map(([key, value]) => [key, interpolate(String(value))]))

  test('every file and folder it mounts or builds from exists', () => {
    for (const [name, { build, volumes = [] }] of Object.entries(compose.services)) {
      const sources = volumes.map((volume) => volume.split(':')[0] ?? '').filter((source) => source.startsWith('.'))
      if (build !== undefined) sources.push(build.context, `${build.context}/${build.dockerfile}`)
      for (const source of sources) assert.ok(existsSync(new URL(source, deploy)), `${name}: ${source} does not exist`)
    }
  })

  test("Cloakroom's config, with the environment compose gives it, is valid, and Prometheus scrapes its metrics listener", () => {
    const config = loadConfig(readFileSync(new URL('cloakroom.yaml', deploy), 'utf8'), environment('cloakroom'))
    assert.equal(config.store.type, 'redis')
    assert.deepEqual(config.metrics.listen, { host: '0.0.0.0', port: 9464 })
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 8080 })
    const prometheus = parseYaml(readFileSync(new URL('prometheus.yml', deploy), 'utf8')) as { scrape_configs: Array<{ metrics_path: string; static_configs: Array<{ targets: string[] }> }> }
    const [scrape] = prometheus.scrape_configs
    assert.equal(scrape?.metrics_path, '/metrics')
    assert.deepEqual(scrape.static_configs[0]?.targets, [`cloakroom:${config.metrics.listen?.port}`])
    // The demo IdP registers the redirect URI from the same public URL, and shares Cloakroom's network.
    assert.equal(environment('idp')['PUBLIC_URL'], config.publicUrl)
    assert.equal(environment('idp')['OIDC_CLIENT_SECRET'], config.oidc.clientSecret)
    for (const name of ['idp', 'api']) assert.equal(service(name).network_mode, 'service:cloakroom')
    assert.deepEqual(service('redis').command, ['redis-server', '--appendonly', 'yes'])
    for (const name of ['prometheus', 'grafana']) assert.deepEqual(service(name).profiles, ['observability'])
  })
})

interface ComposeService {
  readonly build?: { readonly context: string; readonly dockerfile: string }
  readonly volumes?: readonly string[]
  readonly environment?: Readonly<Record<string, unknown>>
  readonly network_mode?: string
  readonly command?: readonly string[]
  readonly profiles?: readonly string[]
}
interface ComposeFile { readonly services: Readonly<Record<string, ComposeService>> }
