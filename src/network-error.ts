/** Node's and undici's connection error codes, in words an operator reads at a glance. */
const NETWORK: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed by the other side',
}

/** "connection refused (ECONNREFUSED)" for a known code, else `fallback` with the code. */
export function describeNetworkCode(code: string, fallback: string): string {
  return `${NETWORK[code] ?? fallback} (${code})`
}
