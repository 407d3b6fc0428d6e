import type { IncomingMessage, ServerResponse } from 'node:http'
import Provider, { interactionPolicy } from 'oidc-provider'

/** The sign-in strengths the demo IdP knows (its `acr` values). */
export const ACR_PASSWORD = 'urn:cloakroom:demo:pwd'
export const ACR_MFA = 'urn:cloakroom:demo:mfa'

/** The one-time code the demo IdP's second-factor page accepts (it says so on the page). */
export const DEMO_OTP = '123456'

type Details = Awaited<ReturnType<Provider['interactionDetails']>>

const asksForMfa = (details: Details) => String(details.params['acr_values'] ?? '').split(' ').includes(ACR_MFA)

/** oidc-provider's interaction policy, its login prompt also asked for when the session's acr is not one of acr_values. */
export function stepUpPolicy() {
  const policy = interactionPolicy.base()
  policy.get('login')?.checks.add(new interactionPolicy.Check('acr_values_unmet', 'the requested acr is not the session\'s', (ctx) => {
    const requested = String(ctx.oidc.params?.['acr_values'] ?? '').split(' ').filter((value) => value !== '')
    return requested.length > 0 && !requested.includes(String(ctx.oidc.session?.acr ?? '')) ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT
  }))
  return policy
}

/** The login result for `accountId`: with the second factor, or the password alone. */
const loginOf = (accountId: string, mfa: boolean) => ({ accountId, acr: mfa ? ACR_MFA : ACR_PASSWORD, amr: mfa ? ['pwd', 'otp'] : ['pwd'] })

/** Grants what the consent prompt found missing (scopes, claims, resource scopes) and finishes the interaction. */
async function grantConsent(provider: Provider, req: IncomingMessage, res: ServerResponse, details: Details): Promise<void> {
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> }
  const grant = details.grantId === undefined
    ? new provider.Grant({ accountId: details.session?.accountId, clientId: String(details.params['client_id']) })
    : await provider.Grant.find(details.grantId)
  if (grant === undefined) throw new Error('the interaction\'s grant is gone')
  if (missing.missingOIDCScope !== undefined) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
  if (missing.missingOIDCClaims !== undefined) grant.addOIDCClaims(missing.missingOIDCClaims)
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '))
  const grantId = await grant.save()
  await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
}

/** 'auto' interactions: completes login, then consent, for `accountId` without showing a page (a second factor when asked). */
export async function finishAutoInteraction(provider: Provider, req: IncomingMessage, res: ServerResponse, accountId: string): Promise<void> {
  const details = await provider.interactionDetails(req, res)
  if (details.prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: loginOf(accountId, asksForMfa(details)) }, { mergeWithLastSubmission: false })
    return
  }
  await grantConsent(provider, req, res, details)
}

/**
 * 'dev' interactions: oidc-provider's own pages show the login form and the consent screen; their
 * answers (POST /interaction/:uid) and a second-factor step come here. A login that asks for
 * ACR_MFA is answered with a page asking for a one-time code before it is finished; any other
 * signs in with the password alone. Returns false for requests that are not these.
 */
export function handleDevInteraction(provider: Provider, prefix: string, req: IncomingMessage, res: ServerResponse): boolean {
  const match = /^\/interaction\/([\w-]+)(\/second-factor)?$/.exec(req.url ?? '')
  if (req.method !== 'POST' || match === null) return false
  const [, uid, secondFactor] = match
  void (async () => {
    const form = await readForm(req)
    const details = await provider.interactionDetails(req, res)
    if (details.uid !== uid) throw new Error('interaction mismatch')
    if (secondFactor !== undefined) {
      const accountId = details.lastSubmission?.['pendingLogin'] as string | undefined
      if (accountId === undefined) throw new Error('no password step before the second factor')
      if (form.get('otp') !== DEMO_OTP) return page(res, 401, secondFactorPage(prefix, uid!, 'That code is not the right one.'))
      await provider.interactionFinished(req, res, { login: loginOf(accountId, true) }, { mergeWithLastSubmission: false })
      return
    }
    if (form.get('prompt') === 'consent' && details.prompt.name === 'consent') return grantConsent(provider, req, res, details)
    const accountId = form.get('login')
    if (form.get('prompt') !== 'login' || details.prompt.name !== 'login' || accountId === null || accountId === '') return page(res, 400, '<p>Unexpected form.</p>')
    if (!asksForMfa(details)) {
      await provider.interactionFinished(req, res, { login: loginOf(accountId, false) }, { mergeWithLastSubmission: false })
      return
    }
    // The password step is done: the interaction itself remembers who, until the code comes.
    details.lastSubmission = { pendingLogin: accountId }
    await details.persist()
    page(res, 200, secondFactorPage(prefix, uid!))
  })().catch(() => page(res, 400, '<p>This sign-in cannot continue. Start again from the application.</p>'))
  return true
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = ''
  for await (const chunk of req) {
    body += String(chunk)
    if (body.length > 4096) throw new Error('form too large')
  }
  return new URLSearchParams(body)
}

function page(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status
  res.setHeader('content-type', 'text/html; charset=utf-8')
  res.setHeader('cache-control', 'no-store')
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Second factor</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:22rem;margin:3rem auto;padding:0 1rem}input,button{font:inherit;width:100%;margin:.3rem 0;padding:.4rem;box-sizing:border-box}</style>
</head><body>${body}</body></html>`)
}

function secondFactorPage(prefix: string, uid: string, problem?: string): string {
  return `<h1>Second factor</h1>
<p>This action needs a stronger sign-in. Enter the one-time code from your authenticator.</p>
<p><small>(The demo IdP's code is always <strong>${DEMO_OTP}</strong>.)</small></p>
${problem === undefined ? '' : `<p role="alert">${problem}</p>`}
<form method="post" action="${prefix}/interaction/${uid}/second-factor" autocomplete="off">
  <label>One-time code <input name="otp" inputmode="numeric" required autofocus></label>
  <button type="submit">Verify</button>
</form>`
}
