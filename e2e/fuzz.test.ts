import { after, before, test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startStack, type Stack } from './fixtures/stack.ts'
import { startEchoUpstream, type EchoUpstream } from './fixtures/echo-upstream.ts'

// Raw HTTP/1.1 bytes against one Cloakroom (SPEC "Errors", "API routes"): every request is answered
// with a status line before the socket closes, no 5xx but 502/503/504, no stack trace, and nothing
// reaches the upstream outside the route that checked it. Cases come from a seeded PRNG: a failure
// names its case number, and the same seed gives the same bytes.

const SEED = 20_250_601
const POOL = 32 // under the 64 forwarded requests one client address may have in flight
const OUTSIDE = 'OUTSIDE-MARKER-6f1c'
const DOTFILE = 'DOTFILE-MARKER-92ab'
// The routes under test; each target has its own base path, so what the upstream saw names its route.
const FORWARDED = [
  { prefix: '/public', base: '/public-base', strip: true },
  { prefix: '/api', base: '/api-base', strip: false },
  { prefix: '/open', base: '/open-base', strip: false },
] as const

type ClassName = 'encoding' | 'traversal' | 'smuggling' | 'huge' | 'methods' | 'targets' | 'controls' | 'versions'
  | 'pipelining' | 'expect' | 'upgrade' | 'slow'
type Step = { readonly bytes: Buffer } | { readonly pauseMs: number } | { readonly awaitContinue: true }
interface SentRequest { readonly id: string; readonly target: string; readonly authed: boolean }
interface Case {
  readonly index: number
  readonly name: ClassName
  readonly steps: readonly Step[]
  /** The requests meant to reach Cloakroom, in order (a smuggled one is not among them). */
  readonly requests: readonly SentRequest[]
  readonly methods: readonly string[]
  readonly timeoutMs: number
  /** Keep reading this long after the last expected answer (smuggling: a second answer means a second request). */
  readonly lingerMs: number
}
interface Response { readonly status: number; readonly headers: ReadonlyMap<string, string>; readonly body: string; readonly close: boolean }
interface Outcome { readonly responses: readonly Response[]; readonly failure: string | undefined; readonly extra: number }

let stack: Stack
let upstream: EchoUpstream
let dir: string
let cookie: string
let host: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cloakroom-fuzz-'))
  const site = join(dir, 'site')
  await mkdir(site)
  await writeFile(join(dir, 'outside.txt'), OUTSIDE)
  await writeFile(join(site, '.env'), DOTFILE)
  await writeFile(join(site, 'index.html'), '<!doctype html><title>spa</title><p>the spa</p>')
  await writeFile(join(site, 'app.js'), 'export {}\n')
  upstream = await startEchoUpstream()
  stack = await startStack({
    config: {
      timeouts: { upstream: '2s' },
      routes: [
        { path: '/public', target: `${upstream.url}/public-base`, token: 'none', csrf: false, stripPath: true },
        { path: '/api', target: `${upstream.url}/api-base`, token: 'user' },
        { path: '/open', target: `${upstream.url}/open-base`, token: 'none', csrf: false },
        { path: '/', static: site, token: 'none', csrf: false },
      ],
    },
  }).catch(async (error: unknown) => {
    await Promise.all([upstream.stop(), rm(dir, { recursive: true, force: true })])
    throw error
  })
  host = new URL(stack.cloakroom.url).host
  const { client } = await stack.login()
  cookie = [...client.cookies(stack.cloakroom.url)].map(([name, value]) => `${name}=${value}`).join('; ')
})
after(async () => {
  await stack?.stop()
  await Promise.all([upstream?.stop(), rm(dir, { recursive: true, force: true })])
})

// ---------------------------------------------------------------- the generator

function prng(seed: number) {
  let state = seed >>> 0
  const next = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
  const int = (n: number) => Math.floor(next() * n)
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T
  return { int, pick, chance: (p: number) => next() < p, between: (lo: number, hi: number) => lo + int(hi - lo + 1) }
}
type Rng = ReturnType<typeof prng>

const PREFIXES = ['/public', '/api', '/open', '', '/auth', '/healthz', '/public-base', '/api-base']
const PLAIN = ['x', 'admin', 'users/1', 'index.html', 'app.js', 'a.b', 'secret', 'api-base', 'login', 'user']
const BAD_ESCAPES = ['%', '%z', '%zz', '%2', '%G0', '%%', '%u002e', '%c0%ae', '%c0%af', '%e0%80%ae', '%ff', '%fe%ff', '%00', '%0a', '%0d%0a',
  '%ed%a0%80', '%f4%90%80%80', '%C3%28', '%%32%65', '%252e', '%25', '%2f', '%5c', '%7f', '%80', '%e2%80%ae', '%ef%bf%bf']
const TRAVERSAL = ['/..', '/.', '/%2e%2e', '/%2E%2e', '/.%2e', '/%2e.', '/%252e%252e', '/%25%32%65%25%32%65', '/..;', '/..;x=1', '/..%3b', '/%2e%2e%3b',
  '/..%3bjsessionid=1', '\\..', '\\', '/..\\', '/%5c..', '/..%5c', '/%2f..', '/..%2f', '//', '/./', '/..%00', '/%c0%ae%c0%ae', '/...', '/.%00.',
  '/..%09', '/%2e%2e%2f', '/.;/', '/;/..', '/..//..', '/%u002e%u002e']
const TAILS = ['/admin', '/api-base/secret', '/outside.txt', '/../outside.txt', '/etc/passwd', '/.env', '/index.html', '', '/x', '/site/.env']
const METHODS = ['get', 'Get', 'gEt', 'FOO', 'PROPFIND', 'MKCOL', 'PURGE', 'M-SEARCH', 'TRACE', 'OPTIONS', 'PATCH', 'DELETE', 'PUT', 'HEAD',
  'POST', 'BREW', 'QUERY', 'SEARCH', 'LINK', 'UNLINK', 'SOURCE', 'ACL', 'REPORT', 'LOCK', 'G ET', 'GET\u0000', 'GE\tT', 'ÄGET', 'GET/']
const VERSIONS = ['HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'HTTP/2', 'HTTP/3.0', 'HTTP/0.9', 'HTTP/9.9', 'http/1.1', 'HTTP/1.1 ', 'HTTP/ 1.1',
  'HTTP/1.10', 'HTTP/01.1', 'HTTPS/1.1', 'HTTP/1.1\u0000', 'HTTP/1', 'HTTP/1.', 'HTTP/a.b', 'HTTP1.1', 'HTTP/1.1/1.1']
const ODD_TARGETS = ['http://evil.example/api/x', 'http://{host}/public/x', 'https://{host}/api/x', 'HTTP://evil.example/x', 'evil.example:443',
  '{host}', '127.0.0.1:80', '*', '//evil.example/x', '///x', '@evil.example/x', 'http:/x', 'http:x', 'x', '?', '#', '/public@evil.example',
  '/public/@evil.example', 'javascript:alert(1)', 'file:///etc/passwd', 'http://{host}', 'ws://evil.example/x', '/\\evil.example',
  '/public/\\evil.example', 'http://user:pass@{host}/open/x', 'http://{host}:1/public/x', 'http://[::1]/public/x', '/public#x', '/open/x#/../admin']

function target(rng: Rng, prefixes = PREFIXES): string {
  const prefix = rng.pick(prefixes)
  const segments = Array.from({ length: rng.int(3) }, () => rng.pick(PLAIN)).join('/')
  return `${prefix}/${segments}${rng.chance(0.2) ? `?q=${rng.pick(PLAIN)}` : ''}`
}

class Builder {
  readonly #index: number
  #requests: SentRequest[] = []
  #methods: string[] = []
  constructor(index: number) {
    this.#index = index
  }

  /** One request's bytes; its X-Fuzz-Id lets the upstream's record name it. `hidden` requests are not expected to be answered. */
  request(options: { method?: string; target: string; version?: string; headers?: readonly string[]; body?: string; eol?: string;
    authed?: boolean; framing?: 'length' | 'none'; hidden?: boolean; host?: boolean }): string {
    const { method = 'GET', version = 'HTTP/1.1', headers = [], body = '', eol = '\r\n', authed = false, framing = 'length', hidden = false } = options
    const id = `${this.#index}.${this.#requests.length + (hidden ? 100 : 0)}${hidden ? 'h' : ''}`
    if (!hidden) {
      this.#requests.push({ id, target: options.target, authed })
      this.#methods.push(method.toUpperCase())
    }
    const lines = [`${method} ${options.target}${version === '' ? '' : ` ${version}`}`]
    if (options.host !== false) lines.push(`Host: ${host}`)
    lines.push(`X-Fuzz-Id: ${id}`)
    if (authed) lines.push(`Cookie: ${cookie}`, 'X-CSRF: 1')
    lines.push(...headers)
    if (framing === 'length' && body !== '') lines.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`)
    return `${lines.join(eol)}${eol}${eol}${body}`
  }

  done(name: ClassName, steps: readonly (Step | string)[], options: { timeoutMs?: number; lingerMs?: number } = {}): Case {
    return {
      index: this.#index, name, requests: this.#requests, methods: this.#methods, timeoutMs: options.timeoutMs ?? 8_000, lingerMs: options.lingerMs ?? 0,
      steps: steps.map((step) => (typeof step === 'string' ? { bytes: Buffer.from(step, 'latin1') } : step)),
    }
  }
}

const hiddenRequest = (b: Builder, rng: Rng) =>
  b.request({ method: 'GET', target: rng.pick(['/api-base/smuggled', '/api/smuggled', '/public-base/smuggled']), hidden: true })

const GENERATORS: Record<ClassName, { count: number; make: (rng: Rng, b: Builder) => Case }> = {
  encoding: { count: 400, make: (rng, b) => {
    const parts = Array.from({ length: rng.between(1, 4) }, () => (rng.chance(0.6) ? rng.pick(BAD_ESCAPES) : rng.pick(PLAIN)))
    const query = rng.chance(0.3) ? `?${rng.pick(['q', 'returnTo', '%zz', 'a%'])}=${rng.pick(BAD_ESCAPES)}` : ''
    const prefix = rng.pick(PREFIXES)
    const method = rng.pick(['GET', 'GET', 'POST', 'HEAD'])
    const authed = prefix === '/api' && rng.chance(0.3)
    return b.done('encoding', [b.request({ method, target: `${prefix}/${parts.join(rng.pick(['/', '', '/']))}${query}`, authed, body: method === 'POST' ? 'a=1' : '' })])
  } },
  traversal: { count: 500, make: (rng, b) => {
    const middle = Array.from({ length: rng.between(1, 4) }, () => rng.pick(TRAVERSAL)).join('')
    const prefix = rng.pick(['/public', '/api', '/open', '', '/public/x', '/open/a/b', '/api/v1', '/auth', '/site'])
    const authed = prefix.startsWith('/api') && rng.chance(0.3)
    return b.done('traversal', [b.request({ method: rng.pick(['GET', 'GET', 'HEAD', 'POST']), target: `${prefix}${middle}${rng.pick(TAILS)}`, authed })])
  } },
  smuggling: { count: 400, make: (rng, b) => {
    const inner = hiddenRequest(b, rng)
    const chunked = `${inner.length.toString(16)}\r\n${inner}\r\n0\r\n\r\n`
    const te = rng.pick(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked, identity', 'Transfer-Encoding: identity, chunked',
      'Transfer-Encoding : chunked', 'Transfer-Encoding:\tchunked', 'Transfer-Encoding: xchunked', 'Transfer-Encoding: chunked\u000b',
      'Transfer-encoding: CHUNKED', ' Transfer-Encoding: chunked', 'Transfer-Encoding:\r\n chunked', 'Transfer-Encoding: chunked, chunked',
      'Transfer-Encoding: gzip, chunked', 'Transfer-Encoding: chunked, gzip', 'Transfer-Encoding: "chunked"', 'Transfer-Encoding: chunk'])
    const outer = { method: 'POST', target: `${rng.pick(['/public', '/open', '/api'])}/upload`, framing: 'none' as const }
    const variant = rng.int(6)
    if (variant === 0) {
      // Content-Length and Transfer-Encoding together (RFC 9112 §6.3: a server may reject, and Node does).
      const headers = rng.chance(0.5) ? [te, `Content-Length: ${rng.pick([0, 4, chunked.length])}`] : [`Content-Length: ${rng.pick([0, 4, chunked.length])}`, te]
      return b.done('smuggling', [b.request({ ...outer, headers, body: chunked })], { lingerMs: 150 })
    }
    if (variant === 1) {
      const [first, second] = rng.pick([[0, inner.length], [inner.length, 0], [4, 4], [4, 5]]) as [number, number]
      return b.done('smuggling', [b.request({ ...outer, headers: [`Content-Length: ${first}`, `Content-Length: ${second}`], body: inner })], { lingerMs: 150 })
    }
    if (variant === 2) return b.done('smuggling', [b.request({ ...outer, headers: [te], body: chunked })], { lingerMs: 150 })
    if (variant === 3) {
      const size = rng.pick(['zz', '-1', '0x5', 'ffffffffffffffffffff', '5 ', ' 5', '5;ext=1', '5;', '+5', '5\u0000', '0000000000000000000005', '5\t'])
      return b.done('smuggling', [b.request({ ...outer, headers: ['Transfer-Encoding: chunked'], body: `${size}\r\nhello\r\n0\r\n\r\n${inner}` })], { lingerMs: 150 })
    }
    if (variant === 4) {
      // Bare LF (or bare CR) as a line ending, in the head or in the chunked body.
      const eol = rng.pick(['\n', '\r', '\n\r'])
      const body = rng.chance(0.5) ? `5${eol}hello${eol}0${eol}${eol}${inner}` : `5\r\nhello\n0\r\n\r\n${inner}`
      return b.done('smuggling', [b.request({ ...outer, headers: ['Transfer-Encoding: chunked'], eol: rng.chance(0.5) ? eol : '\r\n', body })], { lingerMs: 150 })
    }
    // A chunk longer or shorter than declared, or a body that ends early.
    const body = rng.pick([`3\r\nhello\r\n0\r\n\r\n${inner}`, `8\r\nhi\r\n0\r\n\r\n${inner}`, `5\r\nhello0\r\n\r\n${inner}`, `5\r\nhello\r\n0\r\n${inner}`])
    return b.done('smuggling', [b.request({ ...outer, headers: ['Transfer-Encoding: chunked'], body })], { lingerMs: 150 })
  } },
  huge: { count: 150, make: (rng, b) => {
    const kind = rng.int(5)
    const size = rng.between(17_000, 64_000)
    if (kind === 0) return b.done('huge', [b.request({ target: target(rng), headers: [`Cookie: big=${'c'.repeat(size)}`] })])
    if (kind === 1) return b.done('huge', [b.request({ target: target(rng), headers: Array.from({ length: rng.between(300, 3000) }, (_, i) => `X-H${i}: v`) })])
    if (kind === 2) return b.done('huge', [b.request({ target: `/public/${'a'.repeat(size)}` })])
    if (kind === 3) return b.done('huge', [b.request({ target: target(rng), headers: [`X-Big: ${'v'.repeat(rng.between(15_000, 17_000))}`] })])
    return b.done('huge', [b.request({ target: `/open/?${'q=1&'.repeat(rng.between(2_000, 20_000))}` })])
  } },
  methods: { count: 300, make: (rng, b) => {
    const method = rng.chance(0.1) ? 'A'.repeat(rng.between(50, 20_000)) : rng.pick(METHODS)
    const t = rng.chance(0.1) && method === 'OPTIONS' ? '*' : target(rng)
    const authed = t.startsWith('/api') && rng.chance(0.3)
    return b.done('methods', [b.request({ method, target: t, authed, body: rng.chance(0.3) ? 'x=1' : '' })])
  } },
  targets: { count: 200, make: (rng, b) => {
    const t = rng.pick(ODD_TARGETS).replaceAll('{host}', host)
    return b.done('targets', [b.request({ method: rng.pick(['GET', 'POST', 'OPTIONS', 'HEAD']), target: t })])
  } },
  controls: { count: 300, make: (rng, b) => {
    const byte = String.fromCharCode(rng.pick([0, 1, 7, 8, 9, 10, 11, 12, 13, 27, 31, 127, 0x80, 0x85, 0xa0, 0xff, rng.int(32)]))
    const where = rng.int(6)
    const t = target(rng, ['/public', '/open', '/api', ''])
    if (where === 0) return b.done('controls', [b.request({ target: `${t}${byte}x` })])
    if (where === 1) return b.done('controls', [b.request({ target: `${t}${t.includes('?') ? '&' : '?'}q=a${byte}b` })])
    if (where === 2) return b.done('controls', [b.request({ target: t, headers: [`X-Ctl: a${byte}b`] })])
    if (where === 3) return b.done('controls', [b.request({ target: t, headers: [`X-C${byte}tl: v`] })])
    if (where === 4) return b.done('controls', [b.request({ target: t, host: false, headers: [`Host: 127.0.0.1${byte}`] })])
    return b.done('controls', [b.request({ target: t, headers: [`Cookie: a=b${byte}; cloakroom=x${byte}`] })])
  } },
  versions: { count: 150, make: (rng, b) => {
    const kind = rng.int(10)
    if (kind === 0) return b.done('versions', ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', Buffer.from('000000040000000000', 'hex').toString('latin1')])
    if (kind === 1) return b.done('versions', [b.request({ target: target(rng), version: 'HTTP/1.0', host: rng.chance(0.5) })])
    if (kind === 2) {
      const keepAlive = ['Connection: keep-alive']
      return b.done('versions', [b.request({ target: target(rng), version: 'HTTP/1.0', headers: keepAlive }) + b.request({ target: target(rng), version: 'HTTP/1.0' })])
    }
    if (kind === 3 && rng.chance(0.3)) {
      // HTTP/0.9: a request line without a version, and no headers; the parser waits for more, then the headers timeout answers.
      return b.done('versions', [`GET ${target(rng)}\r\n`], { timeoutMs: 30_000 })
    }
    if (kind === 4) return b.done('versions', [b.request({ target: target(rng), host: false })])
    return b.done('versions', [b.request({ target: target(rng), version: rng.pick(VERSIONS) })])
  } },
  pipelining: { count: 300, make: (rng, b) => {
    const count = rng.between(2, 6)
    const bad = rng.chance(0.3) ? rng.int(count) : -1
    let bytes = ''
    for (let i = 0; i < count; i++) {
      if (i === bad) {
        const malformed = rng.pick([() => b.request({ target: '/public/\\x' }), () => b.request({ method: 'get', target: '/public/x' }),
          () => b.request({ target: '/open/x', headers: ['Content-Length: 1', 'Content-Length: 2'], body: 'ab', framing: 'none' }),
          () => b.request({ target: '/public/x', headers: ['X-Bad : 1'] })])
        bytes += malformed()
        continue
      }
      const method = rng.pick(['GET', 'GET', 'HEAD', 'POST', 'DELETE'])
      const t = rng.pick(['/public/x', '/open/a?b=1', '/healthz', '/', '/app.js', '/api/x', '/missing.js', '/auth/user'])
      bytes += b.request({ method, target: t, authed: t.startsWith('/api') && rng.chance(0.5), body: method === 'POST' ? 'n=1' : '' })
    }
    if (rng.chance(0.3)) {
      // The same bytes in small pieces, a millisecond apart.
      const steps: Array<Step | string> = []
      for (let at = 0; at < bytes.length;) {
        const size = rng.between(1, 40)
        steps.push(bytes.slice(at, at + size), { pauseMs: rng.int(2) })
        at += size
      }
      return b.done('pipelining', steps, { timeoutMs: 15_000 })
    }
    return b.done('pipelining', [bytes])
  } },
  expect: { count: 150, make: (rng, b) => {
    const t = rng.pick(['/public/upload', '/open/upload', '/api/upload', '/', '/auth/logout'])
    const authed = t.startsWith('/api') && rng.chance(0.5)
    const expectation = rng.pick(['Expect: 100-continue', 'Expect: 100-Continue', 'Expect: 100-continue', 'Expect: foo', 'Expect: ', 'Expect: 100-continue, x'])
    const body = rng.pick(['', 'a=1', 'x'.repeat(rng.between(1, 5_000))])
    const head = b.request({ method: rng.pick(['POST', 'PUT', 'GET']), target: t, authed, headers: [expectation, `Content-Length: ${body.length}`], framing: 'none' })
    if (rng.chance(0.5) && body !== '') return b.done('expect', [head, { awaitContinue: true }, body])
    return b.done('expect', [head + body])
  } },
  upgrade: { count: 60, make: (rng, b) => {
    const t = rng.pick(['/public/ws', '/open/ws', '/api/ws', '/', '/auth/user', '/public/\\ws'])
    const headers = [rng.pick(['Connection: Upgrade', 'Connection: keep-alive, Upgrade', 'Connection: upgrade']),
      rng.pick(['Upgrade: websocket', 'Upgrade: h2c', 'Upgrade: foo', 'Upgrade: WebSocket'])]
    if (rng.chance(0.7)) headers.push('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==')
    if (rng.chance(0.5)) headers.push(`Origin: ${rng.pick([`http://${host}`, 'https://evil.example', 'null'])}`)
    return b.done('upgrade', [b.request({ target: t, headers, authed: t.startsWith('/api') && rng.chance(0.5) })])
  } },
  slow: { count: 10, make: (rng, b) => {
    // A client that sends part of its head and stalls: the headers timeout (20 s) answers 408.
    const partial = rng.pick(['G', 'GET /pub', `GET /public/x HTTP/1.1\r\nHost: ${host}\r\n`, 'POST /open/x HTTP/1.1\r\nHo'])
    return b.done('slow', [partial], { timeoutMs: 35_000 })
  } },
}

function generate(): Case[] {
  const rng = prng(SEED)
  const cases: Case[] = []
  for (const generator of Object.values(GENERATORS)) {
    for (let i = 0; i < generator.count; i++) cases.push(generator.make(rng, new Builder(cases.length)))
  }
  return cases
}

// ---------------------------------------------------------------- reading answers

/** The complete responses at the start of `data`; `error` when the bytes are not HTTP/1.1 responses. */
function parseResponses(data: Buffer, methods: readonly string[], closed: boolean): { responses: Response[]; error?: string } {
  const responses: Response[] = []
  let at = 0
  while (at < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', at)
    if (headEnd === -1) return closed ? { responses, error: `truncated head ${JSON.stringify(data.subarray(at, at + 60).toString('latin1'))}` } : { responses }
    const [statusLine = '', ...lines] = data.subarray(at, headEnd).toString('latin1').split('\r\n')
    const match = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?$/.exec(statusLine)
    if (match === null) return { responses, error: `bad status line ${JSON.stringify(statusLine.slice(0, 80))}` }
    const status = Number(match[1])
    const headers = new Map(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
    at = headEnd + 4
    if (status >= 100 && status < 200 && status !== 101) continue
    const method = methods[responses.length] ?? 'GET'
    const close = /\bclose\b/i.test(headers.get('connection') ?? '')
    let body = ''
    if (status === 101) {
      responses.push({ status, headers, body: data.subarray(at).toString('latin1'), close: true })
      return { responses }
    } else if (method === 'HEAD' || status === 204 || status === 304) {
      body = ''
    } else if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
      let chunks = ''
      for (;;) {
        const lineEnd = data.indexOf('\r\n', at)
        if (lineEnd === -1) return closed ? { responses, error: 'truncated chunked body' } : { responses }
        const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1'), 16)
        if (Number.isNaN(size)) return { responses, error: 'bad chunk size in a response' }
        if (data.length < lineEnd + 2 + size + 2) return closed ? { responses, error: 'truncated chunk' } : { responses }
        chunks += data.subarray(lineEnd + 2, lineEnd + 2 + size).toString('latin1')
        at = lineEnd + 2 + size + 2
        if (size === 0) break
      }
      body = chunks
    } else if (headers.has('content-length')) {
      const length = Number(headers.get('content-length'))
      if (data.length < at + length) return closed ? { responses, error: 'truncated body' } : { responses }
      body = data.subarray(at, at + length).toString('latin1')
      at += length
    } else {
      if (!closed) return { responses }
      body = data.subarray(at).toString('latin1')
      at = data.length
    }
    responses.push({ status, headers, body, close })
  }
  return { responses }
}

function runCase(port: number, c: Case): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const received: Buffer[] = []
    let closed = false
    let socketError: string | undefined
    let settled = false
    let expectedAt: number | undefined
    const read = () => parseResponses(Buffer.concat(received), c.methods, closed)
    const settle = (why: 'done' | 'closed' | 'timeout') => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      const { responses, error } = read()
      const wanted = Math.max(1, c.requests.length)
      const answered = expectedAt ?? responses.length
      const last = responses.at(-1)
      let failure: string | undefined
      if (error !== undefined) failure = error
      else if (responses.length === 0) failure = why === 'timeout' ? 'no answer within the time limit' : `closed without an answer${socketError === undefined ? '' : ` (${socketError})`}`
      else if (answered < wanted && last?.close !== true) failure = `${why === 'timeout' ? 'hung' : 'dropped'} after ${answered} of ${wanted} answers`
      resolve({ responses, failure, extra: Math.max(0, responses.length - answered) })
    }
    const timer = setTimeout(() => settle('timeout'), c.timeoutMs)
    const check = () => {
      const { responses, error } = read()
      if (error !== undefined) return settle('done')
      const last = responses.at(-1)
      if (expectedAt === undefined && (responses.length >= Math.max(1, c.requests.length) || last?.close === true)) {
        expectedAt = responses.length
        if (c.lingerMs === 0) settle('done')
        else setTimeout(() => settle('done'), c.lingerMs)
      }
    }
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk)
      check()
    })
    socket.on('error', (error: NodeJS.ErrnoException) => { socketError = error.code })
    socket.on('close', () => {
      closed = true
      if (expectedAt === undefined) check()
      settle('closed')
    })
    void (async () => {
      for (const step of c.steps) {
        if (socket.destroyed || settled) return
        if ('bytes' in step) socket.write(step.bytes)
        else if ('pauseMs' in step) await new Promise((r) => setTimeout(r, step.pauseMs))
        else {
          const deadline = Date.now() + 3_000
          while (!settled && Date.now() < deadline && !Buffer.concat(received).toString('latin1').startsWith('HTTP/1.1 1')) await new Promise((r) => setTimeout(r, 5))
        }
      }
    })()
  })
}

async function runAll(port: number, cases: readonly Case[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(cases.length)
  // The slow cases first: they wait out the headers timeout while the rest run.
  const order = [...cases].sort((a, b) => b.timeoutMs - a.timeoutMs)
  let next = 0
  await Promise.all(Array.from({ length: POOL }, async () => {
    for (let c = order[next++]; c !== undefined; c = order[next++]) outcomes[c.index] = await runCase(port, c)
  }))
  return outcomes
}

// ---------------------------------------------------------------- checks

/** Where the upstream must see a request target Cloakroom forwards: its route's base plus the path that was checked. */
function expectedAtUpstream(target: string): string | undefined {
  const q = target.indexOf('?')
  const path = q === -1 ? target : target.slice(0, q)
  const query = q === -1 || q === target.length - 1 ? '' : target.slice(q)
  const route = FORWARDED.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`))
  if (route === undefined) return undefined
  return route.base + (route.strip ? path.slice(route.prefix.length) || '/' : path) + query
}

const preview = (c: Case) => JSON.stringify(Buffer.concat(c.steps.flatMap((s) => ('bytes' in s ? [s.bytes] : []))).toString('latin1').slice(0, 160))
const tally = (statuses: readonly number[]) => [...statuses.reduce((m, s) => m.set(s, (m.get(s) ?? 0) + 1), new Map<number, number>())]
  .sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(' ')

test('a few thousand malformed and hostile requests: each answered, none past its route', { timeout: 120_000 }, async (t: TestContext) => {
  const port = Number(new URL(stack.cloakroom.url).port)
  const cases = generate()
  const started = Date.now()
  const outcomes = await runAll(port, cases)
  const failures: string[] = []
  const fail = (c: Case, why: string) => failures.push(`#${c.index} ${c.name}: ${why} — sent ${preview(c)}`)

  for (const c of cases) {
    const outcome = outcomes[c.index] as Outcome
    if (outcome.failure !== undefined) fail(c, outcome.failure)
    for (const response of outcome.responses) {
      if (response.status >= 500 && ![502, 503, 504].includes(response.status)) fail(c, `status ${response.status}`)
      if ((response.status === 408 || response.status === 431) && !response.close) fail(c, `${response.status} without Connection: close`)
      if (c.name === 'slow' && response.status !== 408) fail(c, `a stalled head got ${response.status}, not 408`)
      if (/Error|\n\s+at \S+ \(/.test(response.body)) fail(c, `body ${JSON.stringify(response.body.slice(0, 120))}`)
      if (response.body.includes(OUTSIDE) || response.body.includes(DOTFILE)) fail(c, 'a file outside the static folder or a dotfile was served')
    }
  }

  const sent = new Map(cases.flatMap((c) => c.requests.map((r) => [r.id, { c, r }] as const)))
  let reached = 0
  for (const seen of upstream.seen) {
    const id = String(seen.headers['x-fuzz-id'] ?? '')
    const origin = sent.get(id)
    if (!FORWARDED.some((r) => seen.url === r.base || seen.url.startsWith(`${r.base}/`) || seen.url.startsWith(`${r.base}?`))) {
      failures.push(`upstream saw ${JSON.stringify(seen.url)} outside every route's base path (request ${id})`)
    }
    if (origin === undefined) {
      failures.push(`upstream saw ${seen.method} ${JSON.stringify(seen.url)} that no case sent as a request (smuggled? id ${JSON.stringify(id)})`)
      continue
    }
    reached++
    if (!origin.r.authed && seen.url.startsWith('/api-base')) fail(origin.c, `an unauthenticated request reached the upstream as ${seen.url}`)
    const expected = expectedAtUpstream(origin.r.target)
    if (seen.url !== expected) fail(origin.c, `checked as ${JSON.stringify(origin.r.target)} but the upstream saw ${JSON.stringify(seen.url)}`)
  }

  for (const name of Object.keys(GENERATORS) as ClassName[]) {
    const inClass = cases.filter((c) => c.name === name)
    const answered = inClass.filter((c) => (outcomes[c.index] as Outcome).responses.length > 0).length
    const statuses = inClass.flatMap((c) => (outcomes[c.index] as Outcome).responses.map((r) => r.status))
    const extra = inClass.reduce((n, c) => n + (outcomes[c.index] as Outcome).extra, 0)
    t.diagnostic(`${name}: ${inClass.length} cases, ${answered} answered, statuses ${tally(statuses)}${name === 'smuggling' ? `, ${extra} second answers (pipelined, not smuggled)` : ''}`)
  }
  const log = stack.cloakroom.output()
  const unreadable = log.split('\n').filter((line) => line.includes('"unreadable request"')).length
  t.diagnostic(`${cases.length} cases in ${((Date.now() - started) / 1000).toFixed(1)} s; ${reached} requests reached the upstream; ${unreadable} unreadable requests logged`)

  const health = await fetch(`${stack.cloakroom.url}/healthz`)
  assert.equal(health.status, 200, 'the process is alive')
  assert.doesNotMatch(log, /unhandled error/)
  const kinds = failures.reduce((m, f) => {
    const kind = f.replace(/^#\d+ /, '').replace(/ — sent .*$/s, '').replace(/"[^"]*"|\d+/g, '…')
    return m.set(kind, (m.get(kind) ?? 0) + 1)
  }, new Map<string, number>())
  for (const [kind, n] of kinds) t.diagnostic(`failure: ${kind} ×${n}`)
  assert.deepEqual(failures.slice(0, 30), [], `${failures.length} failures`)
})

test('a request with a 20 KB Cookie header gets 431 with Connection: close', async () => {
  const port = Number(new URL(stack.cloakroom.url).port)
  const b = new Builder(1_000_000)
  const c = b.done('huge', [b.request({ target: '/public/x', headers: [`Cookie: big=${'c'.repeat(20 * 1024)}`] })])
  const { responses, failure } = await runCase(port, c)
  assert.equal(failure, undefined)
  assert.equal(responses[0]?.status, 431)
  assert.equal(responses[0]?.headers.get('connection'), 'close')
  assert.equal(responses[0]?.headers.get('content-type'), 'application/problem+json')
  assert.deepEqual(JSON.parse(responses[0]?.body ?? ''), { type: 'about:blank', title: 'Request Header Fields Too Large', status: 431, code: 'bad_request' })
})

test('CONNECT, which Cloakroom does not serve, is answered rather than dropped', async () => {
  const port = Number(new URL(stack.cloakroom.url).port)
  for (const authority of ['evil.example:443', `${host}`, '127.0.0.1:22']) {
    const b = new Builder(2_000_000)
    const c = b.done('methods', [b.request({ method: 'CONNECT', target: authority })])
    const { responses, failure } = await runCase(port, c)
    assert.equal(failure, undefined, `CONNECT ${authority}`)
    assert.equal(responses[0]?.status, 400)
    assert.equal(responses[0]?.headers.get('connection'), 'close')
  }
})
