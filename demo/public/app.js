// The SPA talks to Cloakroom on its own origin through its browser helper: no token, ever.
import { createCloakroom } from '/auth/client.js'

const cloakroom = createCloakroom()
const $ = (id) => document.getElementById(id)
let deadlines

const clock = (epochSeconds) => new Date(epochSeconds * 1000).toLocaleTimeString()
function left(epochSeconds) {
  const seconds = Math.max(0, Math.round(epochSeconds - Date.now() / 1000))
  const [h, m, s] = [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60]
  return `${h > 0 ? `${h} h ` : ''}${m} min ${String(s).padStart(2, '0')} s`
}
function log(text) {
  const item = document.createElement('li')
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`
  $('log').prepend(item)
}

async function showUser() {
  const user = await cloakroom.user()
  $('anonymous').hidden = user !== undefined
  $('user').hidden = user === undefined
  if (user === undefined) return
  $('name').textContent = user.claims.name ?? user.sub
  $('sub').textContent = user.sub
  $('acr').textContent = user.claims.acr ?? 'none'
  await showSessions()
}

async function showSessions() {
  const rows = (await cloakroom.sessions()).map((session) => {
    const row = document.createElement('tr')
    for (const text of [session.userAgent ?? 'unknown browser', clock(session.createdAt), clock(session.lastSeenAt)]) {
      const cell = document.createElement('td')
      cell.textContent = text
      row.append(cell)
    }
    const action = document.createElement('td')
    if (session.current) action.textContent = 'this browser'
    else {
      const end = document.createElement('button')
      end.textContent = 'End'
      end.addEventListener('click', async () => {
        await cloakroom.endSession(session.sid)
        log(`ended the session in ${session.userAgent ?? 'another browser'}`)
        await showSessions()
      })
      action.append(end)
    }
    row.append(action)
    return row
  })
  $('sessions').replaceChildren(...rows)
}

cloakroom.onSession((event) => {
  if (event.type === 'session') {
    deadlines = event
    log(`session: idle deadline ${clock(event.idleExpiresAt)}, absolute ${clock(event.expiresAt)}`)
  } else {
    deadlines = undefined
    log(`session ended: ${event.reason}`)
    void showUser()
  }
})
setInterval(() => {
  if (deadlines === undefined) return
  $('idle').textContent = left(deadlines.idleExpiresAt)
  $('absolute').textContent = left(deadlines.expiresAt)
}, 1000)

const show = async (response) => { $('result').textContent = `${response.status}\n${await response.text()}` }
$('login').addEventListener('click', () => cloakroom.login())
$('call').addEventListener('click', async () => show(await cloakroom.api('/api/whoami')))
// A route with its own resource: the orders API sees a token issued for it alone (see "aud").
$('orders').addEventListener('click', async () => show(await cloakroom.api('/api/orders/recent')))
// A password sign-in gets step_up_required here: api() follows its loginUrl to the IdP's second factor and back.
$('sensitive').addEventListener('click', async () => show(await cloakroom.api('/api/sensitive/transfer', { method: 'POST' })))
$('logout').addEventListener('click', () => cloakroom.logout())
$('logout-everywhere').addEventListener('click', () => cloakroom.logout({ everywhere: true }))

void showUser()
