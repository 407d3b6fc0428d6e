/** Debian's wrk, pinned with taskset, each wrk thread one client (its own session and forwarded address). */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Each wrk thread is one client: its own forwarded address and, given cookies, its own session. */
const LUA = `
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("client", threads)
end
function init(args)
  local n = tonumber(client) or 1
  wrk.headers["X-Forwarded-For"] = "198.51.100." .. n
  wrk.headers["X-CSRF"] = "1"
  if #args > 0 then wrk.headers["Cookie"] = args[((n - 1) % #args) + 1] end
end
`
const script = join(tmpdir(), `cloakroom-bench-clients-${process.pid}.lua`)
writeFileSync(script, LUA)

export interface WrkRun {
  readonly url: string
  readonly connections: number
  readonly threads: number
  readonly seconds: number
  /** Cookie header values, one per thread (round robin). */
  readonly cookies: readonly string[]
  /** The CPU list wrk is pinned to. */
  readonly cpu: string
}

export interface WrkResult {
  readonly rps: number
  /** Milliseconds. */
  readonly p50: number
  readonly p99: number
  readonly requests: number
  /** Non-2xx answers and socket errors, as wrk words them; empty when none. */
  readonly errors: string
}

export async function wrk({ url, connections, threads, seconds, cookies, cpu }: WrkRun): Promise<WrkResult> {
  const argv = ['-c', cpu, 'wrk', '-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '10s', '--latency', '-s', script, url, '--', ...cookies]
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('taskset', argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { out += chunk.toString() })
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`wrk exited with ${code}:\n${out}`))))
  })
  return parseWrk(output)
}

function parseWrk(output: string): WrkResult {
  const latency = (percentile: string) => {
    const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(output)
    if (match === null) throw new Error(`no ${percentile}% latency in wrk output:\n${output}`)
    return Number(match[1]) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[match[2] ?? 'ms']!
  }
  const requests = /^\s*(\d+) requests in/m.exec(output)
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(output)
  if (requests === null || rps === null) throw new Error(`unparsable wrk output:\n${output}`)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output)
  const socket = /Socket errors: (.*)/.exec(output)
  const errors = [non2xx === null ? '' : `${non2xx[1]} non-2xx`, socket === null ? '' : `socket errors: ${socket[1]}`].filter((e) => e !== '').join(', ')
  return { rps: Number(rps[1]), p50: latency('50'), p99: latency('99'), requests: Number(requests[1]), errors }
}
