// The SPA talks to Cloakroom on its own origin. Every call sends the CSRF header; none holds a token.
const csrf = { 'X-CSRF': '1' }
const $ = (id) => document.getElementById(id)

async function showUser() {
  const response = await fetch('/auth/user', { headers: csrf })
  if (response.status === 401) {
    $('anonymous').hidden = false
    $('user').hidden = true
    return null
  }
  const user = await response.json()
  $('name').textContent = user.claims.name ?? user.sub
  $('sub').textContent = user.sub
  $('anonymous').hidden = true
  $('user').hidden = false
  return user
}

$('login').addEventListener('click', () => {
  location.href = `/auth/login?returnTo=${encodeURIComponent(location.pathname)}`
})

$('call').addEventListener('click', async () => {
  const response = await fetch('/api/whoami', { headers: csrf })
  $('result').textContent = `${response.status}\n${await response.text()}`
  if (response.status === 401) await showUser()
})

$('logout').addEventListener('click', async () => {
  const response = await fetch('/auth/logout', { method: 'POST', headers: csrf })
  const body = response.ok ? await response.json() : {}
  if (body.logoutUrl) location.href = body.logoutUrl
  else await showUser()
})

showUser()
