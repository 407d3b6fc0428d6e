// Cloakroom's browser helper: served at /auth/client.js, and shipped as `cloakroom/client`.
// Plain ES module, no dependencies. Types: cloakroom.d.ts beside it.

/** @typedef {import('./cloakroom.d.ts').SessionEvent} SessionEvent */
/** @typedef {import('./cloakroom.d.ts').CloakroomOptions} CloakroomOptions */

const CHANNEL = 'cloakroom-session'
const SIGN_IN_AT = 'cloakroom:sign-in-at'

/**
 * @param {CloakroomOptions} [options]
 * @returns {import('./cloakroom.d.ts').Cloakroom}
 */
export function createCloakroom(options = {}) {
  const base = options.base ?? ''
  const csrfHeader = options.csrfHeader ?? 'X-CSRF'
  const here = () => location.pathname + location.search + location.hash

  /** @param {string} path @param {RequestInit} [init] */
  const call = (path, init = {}) => fetch(base + path, {
    credentials: 'same-origin',
    ...init,
    headers: { [csrfHeader]: '1', ...Object.fromEntries(new Headers(init.headers).entries()) },
  })

  /** @param {string} [returnTo] */
  function login(returnTo = here()) {
    location.assign(`${base}/auth/login?returnTo=${encodeURIComponent(returnTo)}`)
  }

  /** True when api() sent this tab to sign in less than 30 s ago. */
  function signedInMomentsAgo() {
    try { return Date.now() - Number(sessionStorage.getItem(SIGN_IN_AT) ?? 0) < 30_000 } catch { return false }
  }

  /** @param {Response} response */
  async function problemOf(response) {
    if (!(response.headers.get('content-type') ?? '').includes('problem+json')) return undefined
    try { return /** @type {{ code?: string, loginUrl?: string }} */ (await response.clone().json()) } catch { return undefined }
  }

  /** @type {Set<(event: SessionEvent) => void>} */
  const listeners = new Set()
  /** @type {SessionEvent | undefined} */
  let last
  /** @param {SessionEvent} event */
  function deliver(event) {
    last = event
    for (const listener of listeners) listener(event)
  }

  let started = false
  /** @type {BroadcastChannel | undefined} */
  let channel
  const tabs = () => (channel ??= typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : undefined)
  /** This tab's listeners and every other tab's hear `event`. @param {SessionEvent} event */
  const tell = (event) => { deliver(event); tabs()?.postMessage(event) }
  /**
   * One EventSource per browser: the tab holding the lock reads the stream and tells the others
   * through a BroadcastChannel; when it goes, another tab takes the lock and the stream. Without Web
   * Locks or BroadcastChannel, each tab reads its own.
   */
  function start() {
    if (started) return
    started = true
    const shared = tabs()
    shared?.addEventListener('message', (message) => {
      const data = message.data
      if (data === 'hello') { if (last !== undefined) shared.postMessage(last) }
      else deliver(data)
    })
    shared?.postMessage('hello')
    const read = () => new Promise((resolve) => {
      let ended = false
      const open = () => {
        const source = new EventSource(`${base}/auth/events`)
        source.addEventListener('session', (e) => tell({ type: 'session', ...JSON.parse(/** @type {MessageEvent} */ (e).data) }))
        source.addEventListener('ended', (e) => {
          ended = true
          source.close()
          tell({ type: 'ended', ...JSON.parse(/** @type {MessageEvent} */ (e).data) })
          resolve(undefined)
        })
        source.addEventListener('error', () => {
          if (source.readyState !== EventSource.CLOSED || ended) return
          // Refused (no session): if the end went unheard (the tab that read the stream closed
          // first), say so; then look again later, as a new login may come.
          void call('/auth/user').then((response) => {
            if (response.status === 401 && last?.type !== 'ended') tell({ type: 'ended', reason: 'expired' })
          }, () => {})
          setTimeout(open, 5000)
        })
      }
      open()
    })
    if (shared !== undefined && navigator.locks !== undefined) {
      // Held for as long as this tab reads the stream; released (and taken by another tab) when it goes.
      const lead = () => navigator.locks.request(CHANNEL, () => read()).then(() => setTimeout(lead, 5000))
      void lead()
    } else {
      void read()
    }
  }

  return {
    async api(path, init) {
      const response = await call(path, init)
      if (response.status === 401) {
        const problem = await problemOf(response)
        if (problem?.code === 'step_up_required' && typeof problem.loginUrl === 'string') {
          location.assign(`${base}${problem.loginUrl}&returnTo=${encodeURIComponent(here())}`)
        } else if (!signedInMomentsAgo()) {
          // Any other 401 (no session, an expired one, or a target that refuses it) asks for a sign-in;
          // but not twice in a row, should a target keep refusing whoever signs in.
          try { sessionStorage.setItem(SIGN_IN_AT, String(Date.now())) } catch { /* storage off: no guard */ }
          login()
        }
      }
      return response
    },
    async user() {
      const response = await call('/auth/user')
      return response.ok ? response.json() : undefined
    },
    login,
    async logout({ everywhere = false } = {}) {
      const response = await call('/auth/logout', {
        method: 'POST',
        ...(everywhere ? { headers: { 'content-type': 'application/json' }, body: '{"everywhere":true}' } : {}),
      })
      const { logoutUrl } = response.ok ? await response.json() : { logoutUrl: null }
      // The other tabs hear it now, whichever tab reads the stream: this one is about to leave.
      if (response.ok) tell({ type: 'ended', reason: 'logout' })
      location.assign(logoutUrl ?? `${base}/`)
    },
    async sessions() {
      const response = await call('/auth/sessions')
      return response.ok ? (await response.json()).sessions : []
    },
    async endSession(sid) {
      const response = await call(`/auth/sessions/${encodeURIComponent(sid)}`, { method: 'DELETE' })
      if (!response.ok) throw new Error(`ending session ${sid}: ${response.status}`)
    },
    onSession(listener) {
      listeners.add(listener)
      if (last !== undefined) listener(last)
      start()
      return () => { listeners.delete(listener) }
    },
  }
}
