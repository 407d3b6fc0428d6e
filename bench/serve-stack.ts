/**
 * Starts what bench/run.ts measures and leaves it running, for looking at one target by hand
 * (strace, perf, a profiler, wrk with other options):
 *
 *   node bench/serve-stack.ts [--store redis|memory]
 *
 * Prints the URLs, the session cookies and the Cloakroom process id, then waits for Ctrl-C.
 */
import { parseArgs } from 'node:util'
import { startBenchStack } from './bench-stack.ts'

const { values: args } = parseArgs({ options: { store: { type: 'string', default: 'redis' } } })
const bench = await startBenchStack({ sessions: 4, store: args.store === 'memory' ? 'memory' : 'redis' })
console.log(JSON.stringify({ cloakroom: bench.stack.cloakroom.url, target: bench.targetUrl, cookies: bench.cookies, authorization: bench.authorization }, null, 2))
process.once('SIGINT', () => { void bench.stop().then(() => process.exit(0)) })
