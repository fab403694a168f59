// End-to-end check of the dashboard against a running GaiaRouter (real or e2e/mock-server.mjs).
//   GAIAROUTER_URL=http://127.0.0.1:8080 GAIAROUTER_ADMIN_USERNAME=admin GAIAROUTER_ADMIN_PASSWORD=… npm run e2e
// Exits 1 on any failed step or any console error in the browser. Screenshots: e2e-screenshots/.
import { chromium } from 'playwright-core'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const BASE = (process.env.GAIAROUTER_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '')
const USER = process.env.GAIAROUTER_ADMIN_USERNAME ?? 'admin'
const PASS = process.env.GAIAROUTER_ADMIN_PASSWORD ?? 'admin'
const MODEL = process.env.GAIAROUTER_E2E_MODEL ?? 'echo/test'
const SHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'e2e-screenshots')
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS ?? 15000)

fs.mkdirSync(SHOTS, { recursive: true })
const stamp = new Date().toISOString().replace(/\D/g, '').slice(4, 14)
const ORG = `E2E Org ${stamp}`
const KEY = `e2e-key-${stamp}`

const consoleErrors = []
let failures = 0
let current = 'start'

function log(msg) {
  console.log(`${new Date().toISOString().slice(11, 19)} ${msg}`)
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, baseURL: BASE })
context.setDefaultTimeout(TIMEOUT)

function watch(page, label) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      const text = `[${label}] during "${current}": ${msg.text()} ${msg.location()?.url ?? ''}`
      consoleErrors.push(text)
      log(`console error: ${text}`)
    }
  })
  page.on('pageerror', (e) => {
    const text = `[${label}] during "${current}": uncaught ${e.message}`
    consoleErrors.push(text)
    log(text)
  })
}

const page = await context.newPage()
watch(page, 'desktop')

async function shot(name, p = page) {
  await p.waitForTimeout(1200) // let charts finish their animation
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true })
}

let passedSteps = 0

async function step(name, fn, { critical = true } = {}) {
  current = name
  const t0 = Date.now()
  try {
    await fn()
    passedSteps++
    log(`ok    ${name} (${Date.now() - t0} ms)`)
    return true
  } catch (e) {
    failures++
    log(`FAIL  ${name}: ${e?.message?.split('\n')[0] ?? e}`)
    await page.screenshot({ path: path.join(SHOTS, `FAILED-${name.replace(/\W+/g, '-')}.png`), fullPage: true }).catch(() => {})
    if (critical) throw new Error(`critical step failed: ${name}`)
    return false
  }
}

/** Polls fn until it returns truthy (reloading via `refresh` between tries). */
async function eventually(fn, { tries = 20, delay = 1000, refresh } = {}) {
  let last
  for (let i = 0; i < tries; i++) {
    try {
      last = await fn()
      if (last) return last
    } catch (e) {
      last = e
    }
    await page.waitForTimeout(delay)
    if (refresh) await refresh()
  }
  throw new Error(`condition not met: ${last instanceof Error ? last.message : JSON.stringify(last)}`)
}

const visibleModal = () => page.locator('.arco-modal-wrapper:visible .arco-modal').last()
const numberIn = (s) => Number(String(s).replace(/[^\d.]/g, '')) || 0

let secret = null
let rotated = null
let keyId = null
let orgId = null

try {
  await step('server is reachable', async () => {
    const r = await fetch(`${BASE}/`)
    if (!r.ok) throw new Error(`GET / → ${r.status}`)
  })

  await step('log in', async () => {
    await page.goto('/login')
    await page.getByTestId('login-username').locator('input').fill(USER)
    await page.getByTestId('login-password').locator('input').fill(PASS)
    await shot('login-light')
    await page.getByTestId('login-submit').click()
    await page.waitForURL(/\/overview/)
    await page.getByTestId('card-requests').waitFor()
  })

  await step('create an organization', async () => {
    await page.goto('/organizations')
    await page.getByTestId('org-create').click()
    const modal = visibleModal()
    await modal.getByTestId('org-name').locator('input').fill(ORG)
    await modal.getByTestId('limit-daily_requests').locator('input').fill('1000')
    await modal.getByTestId('limit-requests_per_minute').locator('input').fill('600')
    const posted = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/v1/organizations')
    await modal.locator('.arco-modal-footer .arco-btn-primary').click()
    const sent = (await posted).postDataJSON()
    if (sent.limits?.daily_requests !== 1000 || sent.limits?.requests_per_minute !== 600 || !('weekly_tokens' in sent.limits)) {
      throw new Error(`create should send the full limits object, sent ${JSON.stringify(sent.limits)}`)
    }
    const link = page.getByTestId(`org-link-${ORG}`)
    await link.waitFor()
    orgId = (await link.getAttribute('href')).split('/').pop()
    await page.getByTestId(`org-tightest-${ORG}`).getByText('Daily requests').waitFor()
  })

  await step('the organization shows its Budgets card', async () => {
    await page.goto(`/organizations/${orgId}`)
    const daily = page.getByTestId('budget-daily_requests')
    await daily.getByText('Daily requests').waitFor()
    await daily.getByText(/resets (in|tomorrow)/).waitFor()
    const rates = await page.getByTestId('budgets-rates').textContent()
    if (!/Requests \/ min\s*600/.test(rates)) throw new Error(`rates read: ${rates}`)
    await shot('organization-budgets-light')
  })

  await step('editing one limit sends the minimal merge patch', async () => {
    await page.getByTestId('org-edit').click()
    const modal = visibleModal()
    const rpm = modal.getByTestId('limit-requests_per_minute').locator('input')
    await rpm.waitFor()
    if ((await modal.getByTestId('limit-daily_requests').locator('input').inputValue()) !== '1000') throw new Error('the form does not show the daily budget')
    await modal.getByTestId('limit-thresholds').waitFor()
    await rpm.fill('120')
    await shot('organization-limits-form-light')
    const patched = page.waitForRequest((r) => r.method() === 'PATCH' && new URL(r.url()).pathname === `/v1/organizations/${orgId}`)
    await modal.locator('.arco-modal-footer .arco-btn-primary').click()
    const body = (await patched).postDataJSON()
    const want = { limits: { requests_per_minute: 120 } }
    if (JSON.stringify(body) !== JSON.stringify(want)) throw new Error(`PATCH body ${JSON.stringify(body)}, want ${JSON.stringify(want)}`)
    await eventually(async () => /Requests \/ min\s*120/.test(await page.getByTestId('budgets-rates').textContent()))
    await page.getByTestId('budget-daily_requests').waitFor()
  })

  await step('suspending from the organization page asks first, in English', async () => {
    await page.getByRole('button', { name: 'Suspend' }).click()
    const dialog = page.locator('.arco-modal.confirm-suspend')
    await dialog.waitFor()
    const buttons = await dialog.locator('.arco-modal-footer .arco-btn').allTextContents()
    if (buttons.map((b) => b.trim()).join('|') !== 'Cancel|Suspend') throw new Error(`dialog buttons: ${JSON.stringify(buttons)}`)
    await dialog.locator('.arco-modal-footer .arco-btn').first().click()
    await dialog.waitFor({ state: 'hidden' })
    await page.getByRole('button', { name: 'Suspend' }).waitFor()
  })

  await step('issue an API key and read it from the modal', async () => {
    await page.goto('/api-keys')
    await page.getByTestId('key-issue').click()
    const modal = visibleModal()
    await modal.getByTestId('key-org').click()
    await page.locator('.arco-select-option:visible', { hasText: ORG }).first().click()
    await modal.getByTestId('key-name').locator('input').fill(KEY)
    // A per-model rate and alert thresholds typed out of order (the form sorts them).
    await modal.getByTestId('limit-model-add').click()
    await modal.getByTestId('limit-model-name').locator('input').fill(MODEL)
    await modal.getByTestId('limit-model-requests_per_minute').locator('input').fill('100')
    const tags = modal.getByTestId('limit-thresholds').locator('input')
    for (const t of ['90', '50']) {
      await tags.fill(t)
      await tags.press('Enter')
    }
    await shot('api-key-limits-form-light')
    const posted = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/v1/api-keys')
    await modal.locator('.arco-modal-footer .arco-btn-primary').click()
    const limits = (await posted).postDataJSON().limits
    if (limits?.models?.[MODEL]?.requests_per_minute !== 100 || JSON.stringify(limits.alert_thresholds_percent) !== '[50,90]') {
      throw new Error(`issue sent limits ${JSON.stringify(limits)}`)
    }
    const code = page.getByTestId('secret-key')
    await code.waitFor()
    secret = (await code.textContent()).trim()
    if (!/^gr-/.test(secret)) throw new Error(`unexpected key format: ${secret.slice(0, 6)}…`)
    await shot('api-key-secret-modal')
    await page.getByTestId('secret-saved').click()
    await page.getByTestId('secret-done').click()
    await code.waitFor({ state: 'hidden' })
    const link = page.getByTestId(`key-link-${KEY}`)
    await link.waitFor()
    keyId = (await link.getAttribute('href')).split('/').pop()
  })

  await step('playground: two streamed chat messages', async () => {
    await page.goto('/playground')
    await page.getByTestId('pg-key-input').locator('input').fill(secret)
    await page.getByTestId('pg-key-use').click()
    const model = page.getByTestId('pg-model')
    await page.waitForTimeout(500)
    if (!((await model.textContent()) ?? '').includes(MODEL)) {
      await model.click()
      await page.keyboard.type(MODEL)
      await page.keyboard.press('Enter')
    }
    for (const [i, text] of ['Hello GaiaRouter', 'Second message from the e2e test'].entries()) {
      await page.getByTestId('pg-input').locator('textarea').fill(text)
      await page.getByTestId('pg-send').click()
      await page.getByTestId('pg-metrics').nth(i).waitFor({ timeout: 30000 })
      const reply = await page.getByTestId('pg-turn-assistant').nth(i).textContent()
      if (!reply || !reply.trim()) throw new Error('empty answer')
      const err = await page.getByTestId('pg-turn-assistant').nth(i).locator('.bubble.error').count()
      if (err) throw new Error(`error answer: ${reply}`)
      log(`      answer ${i + 1}: ${reply.trim().slice(0, 80)}`)
    }
    await shot('playground-light')
  })

  await step('overview shows the requests', async () => {
    await page.goto('/overview')
    await eventually(async () => numberIn(await page.getByTestId('card-requests').locator('.stat-value').textContent()) >= 2, {
      refresh: () => page.getByTestId('overview-refresh').click(),
    })
    await page.getByTestId('chart-requests').locator('canvas').first().waitFor()
    await shot('overview-light')
  })

  await step('request log lists them', async () => {
    await page.goto(`/logs?api_key_id=${keyId}`)
    await eventually(async () => (await page.getByTestId('logs-table').locator('tbody tr', { hasText: MODEL }).count()) >= 2, {
      refresh: () => page.getByTestId('logs-apply').click(),
    })
    await shot('logs-light')
  })

  // ---- issue 14 (helper A): names, refused requests, the request drawer, the audit, 390 px
  const bareIdPrefix = (t) => /^[0-9a-f]{8}$/i.test(String(t ?? '').trim())

  await step('the log names organizations and keys, never an id prefix', async () => {
    await page.goto(`/logs?api_key_id=${keyId}`)
    const table = page.getByTestId('logs-table')
    await table.locator('tbody tr', { hasText: MODEL }).first().waitFor()
    const orgsShown = await table.getByTestId('log-org').allTextContents()
    const keysShown = await table.getByTestId('log-key').allTextContents()
    if (!orgsShown.length || orgsShown.some((t) => t.trim() !== ORG)) throw new Error(`organization cells: ${JSON.stringify(orgsShown)}`)
    if (!keysShown.length || keysShown.some((t) => t.trim() !== KEY)) throw new Error(`key cells: ${JSON.stringify(keysShown)}`)
    const keyFilter = await page.getByTestId('logs-key').textContent()
    if (!keyFilter.includes(KEY)) throw new Error(`the key filter shows ${JSON.stringify(keyFilter)}, not the key's name`)
    await page.goto('/logs')
    await page.getByTestId('logs-table').locator('tbody tr').first().waitFor()
    const all = [...(await page.getByTestId('log-org').allTextContents()), ...(await page.getByTestId('log-key').allTextContents())]
    const bare = all.filter(bareIdPrefix)
    if (bare.length) throw new Error(`bare id prefixes in the log: ${JSON.stringify(bare)}`)
  }, { critical: false })

  await step('a refused request shows in the log with its status and reason', async () => {
    // An unknown model through the e2e's key: GaiaRouter refuses it (404 model_not_found) and records it.
    const unknown = `no-such-model-e2e-${stamp}`
    const r = await fetch(`${BASE}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: unknown, messages: [{ role: 'user', content: 'hi' }] }),
    })
    if (r.status !== 404) throw new Error(`an unknown model answered ${r.status}, want 404`)
    await page.goto(`/logs?api_key_id=${keyId}&status=refused`)
    const row = page.getByTestId('logs-table').locator('tbody tr', { hasText: unknown }).first()
    await eventually(async () => (await row.count()) > 0, { refresh: () => page.getByTestId('logs-apply').click() })
    const status = (await row.getByTestId('log-status').textContent()).trim()
    const http = (await row.getByTestId('log-http').textContent()).trim()
    const reason = (await row.getByTestId('log-reason').textContent()).trim()
    if (!/^Refused/.test(status) || http !== '404' || reason !== 'Unknown model') throw new Error(`refused row reads ${JSON.stringify({ status, http, reason })}`)
    await row.click()
    const drawer = page.getByTestId('request-drawer')
    await drawer.getByTestId('drawer-status').waitFor()
    const text = await drawer.textContent()
    if (!text.includes('Unknown model') || !text.includes('No provider was called') || !text.includes(KEY)) throw new Error(`refused request drawer: ${text.slice(0, 300)}`)
    await shot('logs-refused-drawer-light')
    await page.locator('.arco-drawer .arco-drawer-close-btn').first().click()
  }, { critical: false })

  await step('the key and organization pages tell what was refused this month', async () => {
    for (const url of [`/api-keys/${keyId}`, `/organizations/${orgId}`]) {
      await page.goto(url)
      const notice = page.getByTestId('refusals-notice')
      const told = async () => {
        await page.getByTestId('budgets-card').waitFor()
        await notice.waitFor({ timeout: 3000 }).catch(() => {}) // recorded through the group commit: may lag a moment
        return (await notice.count()) > 0 && /Unknown model \(HTTP 404\): \d+ refused/.test(await notice.textContent())
      }
      await eventually(told, { tries: 10, refresh: () => page.reload() })
    }
    await page.getByTestId('refusals-notice').getByText('see them').first().click()
    await page.waitForURL(/status=refused/)
    await page.getByTestId('logs-table').locator('tbody tr', { hasText: 'Unknown model' }).first().waitFor()
  }, { critical: false })

  await step('the request drawer shows ids, tokens and attempts, also by link', async () => {
    await page.goto(`/logs?api_key_id=${keyId}&status=success`)
    const row = page.getByTestId('logs-table').locator('tbody tr', { hasText: MODEL }).first()
    await row.waitFor()
    await row.click()
    const drawer = page.getByTestId('request-drawer')
    await drawer.getByTestId('drawer-attempts').locator('tbody tr').first().waitFor()
    const id = new URL(page.url()).searchParams.get('request')
    if (!id) throw new Error('opening a request does not put it in the URL')
    const text = await drawer.textContent()
    for (const want of [id, ORG, KEY, 'Time to first token', 'Prompt', 'Completion', 'Cost', 'Upstream attempts']) {
      if (!text.includes(want)) throw new Error(`the drawer lacks ${JSON.stringify(want)}`)
    }
    await shot('logs-drawer-light')
    // A fresh page opened by the link fetches the request by id.
    await page.goto(`/logs?request=${id}&status=error`)
    await page.getByTestId('request-drawer').getByTestId('drawer-attempts').waitFor()
    if (!(await page.getByTestId('request-drawer').textContent()).includes(id)) throw new Error('the linked request is not shown')
    await page.locator('.arco-drawer .arco-drawer-close-btn').first().click()
  }, { critical: false })

  // ---- issue 13 (helper C): request and response bodies, per organization, off by default
  await step('body logging: off shows how to turn it on; on, the drawer shows both bodies', async () => {
    const ask = async (content) => {
      const r = await fetch(`${BASE}/v1/chat/completions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content }] }),
      })
      if (r.status !== 200) throw new Error(`a chat answered ${r.status}`)
      return r.headers.get('x-gaiarouter-request-id') ?? (await r.json()).id
    }
    // The log is a projection: a request shows in it a moment after its answer. Wait
    // for it here (outside the browser), as a user would see it in the list first,
    // so the drawer never asks for an entry that is not there yet.
    const inLog = (requestId) =>
      eventually(async () => {
        const token = await page.evaluate(() => localStorage.getItem('gr.token'))
        const r = await fetch(`${BASE}/v1/logs/${requestId}`, { headers: { Authorization: `Bearer ${token}` } })
        return r.status === 200
      }, { delay: 200 })
    const drawerOf = async (requestId) => {
      await inLog(requestId)
      await page.goto(`/logs?request=${requestId}`)
      const drawer = page.getByTestId('request-drawer')
      await drawer.getByTestId('drawer-bodies').waitFor()
      return drawer
    }
    const unlogged = await ask(`not kept ${stamp}`)
    await eventually(async () => (await (await drawerOf(unlogged)).getByTestId('drawer-bodies-hint').count()) > 0)
    // Turned on from the organization page (an operator's switch), recorded as a PATCH.
    await page.goto(`/organizations/${orgId}`)
    const setting = page.getByTestId('org-log-bodies')
    const patched = page.waitForRequest((r) => r.method() === 'PATCH' && new URL(r.url()).pathname === `/v1/organizations/${orgId}`)
    await setting.locator('.arco-switch').click()
    if (JSON.stringify((await patched).postDataJSON()) !== '{"log_bodies":true}') throw new Error('the switch did not PATCH log_bodies')
    await setting.locator('.arco-switch-checked').waitFor()
    const prompt = `kept for the log ${stamp}`
    const logged = await ask(prompt)
    let drawer
    await eventually(async () => (await (drawer = await drawerOf(logged)).getByTestId('drawer-request-body').count()) > 0)
    const request = await drawer.getByTestId('drawer-request-body').textContent()
    if (!request.includes(`"content": "${prompt}"`)) throw new Error(`the request body is not pretty JSON: ${request.slice(0, 200)}`)
    if (!(await drawer.getByTestId('drawer-response-body').textContent()).includes('"choices"')) throw new Error('the response body is missing')
    await shot('logs-drawer-bodies-light')
    await page.locator('.arco-drawer .arco-drawer-close-btn').first().click()
    // Back off, so later steps see the organization as they left it.
    await page.goto(`/organizations/${orgId}`)
    await page.getByTestId('org-log-bodies').locator('.arco-switch').click()
    await page.getByTestId('org-log-bodies').locator('.arco-switch:not(.arco-switch-checked)').waitFor()
  }, { critical: false })

  await step('the audit trail is compact, in words and names', async () => {
    await page.goto('/audit')
    const issued = page.locator('[data-event-type="ApiKeyIssued"]', { hasText: KEY }).first()
    await issued.waitFor()
    const line = await issued.getByTestId('audit-row').textContent()
    if (!line.includes('API key issued') || !line.includes(USER)) throw new Error(`the audit line reads ${JSON.stringify(line)}`)
    if (/seq \d|v1\.0|\bv\d+ ·|version \d/.test(line)) throw new Error(`event jargon in ${JSON.stringify(line)}`)
    const names = [...(await page.getByTestId('audit-subject').allTextContents()), ...(await page.getByTestId('audit-actor').allTextContents())]
    const bare = names.filter(bareIdPrefix)
    if (bare.length) throw new Error(`bare id prefixes in the audit: ${JSON.stringify(bare)}`)
    const heights = await page.getByTestId('audit-row').evaluateAll((rows) => rows.map((r) => r.getBoundingClientRect().height))
    const avg = heights.reduce((a, b) => a + b, 0) / heights.length
    if (avg > 40) throw new Error(`audit rows are ${avg.toFixed(0)} px tall on average: 25 would not fit one screen`)
    await issued.getByTestId('audit-row').click()
    const detail = await issued.getByTestId('audit-detail').textContent()
    if (!/sequence \d/.test(detail)) throw new Error('the expanded event does not give its sequence')
    // Filter by the key as subject, picked by name.
    await page.getByTestId('audit-subject-filter').click()
    await page.keyboard.type(KEY)
    await page.locator('.arco-select-option:visible', { hasText: KEY }).first().click()
    await page.getByTestId('audit-apply').click()
    await eventually(async () => {
      const subjects = await page.getByTestId('audit-subject').allTextContents()
      return subjects.length > 0 && subjects.every((s) => s.trim() === KEY)
    })
    await shot('audit-light')
  }, { critical: false })

  await step('the organization and key lists show names, and keys can be searched', async () => {
    await page.goto('/organizations')
    await page.getByTestId(`org-link-${ORG}`).waitFor()
    const orgCells = await page.getByTestId('org-table').locator('tbody tr td:first-child').allTextContents()
    if (orgCells.some((t) => t.split(/\s+/).some(bareIdPrefix))) throw new Error(`id prefixes in the organization list: ${JSON.stringify(orgCells)}`)
    await page.goto('/api-keys')
    await page.getByTestId('key-table').waitFor()
    await page.getByTestId('keys-search').locator('input').fill(KEY)
    await eventually(async () => (await page.getByTestId('key-table').locator('tbody tr').count()) === 1)
    await page.getByTestId(`key-link-${KEY}`).waitFor()
    const row = await page.getByTestId('key-table').locator('tbody tr').first().textContent()
    if (!row.includes(ORG)) throw new Error(`the key row does not name its organization: ${row}`)
    await page.getByTestId('keys-search').locator('input').fill(secret.slice(0, 7))
    await page.getByTestId(`key-link-${KEY}`).waitFor()
  }, { critical: false })

  await step('at 390 px no page, dialog or drawer is wider than the screen', async () => {
    const phone = await context.newPage()
    watch(phone, 'phone-a')
    await phone.setViewportSize({ width: 390, height: 844 })
    const overflow = (what) =>
      phone.evaluate((what) => {
        const out = []
        const vw = window.innerWidth
        if (document.documentElement.scrollWidth > vw) out.push(`${what}: the page is ${document.documentElement.scrollWidth} px wide`)
        for (const el of document.querySelectorAll('.arco-modal, .arco-drawer, .arco-trigger-popup')) {
          const r = el.getBoundingClientRect()
          if (r.width === 0) continue
          if (r.left < -0.5 || r.right > vw + 0.5 || r.width > vw) out.push(`${what}: ${el.className.split(' ')[0]} spans ${Math.round(r.left)}..${Math.round(r.right)}`)
        }
        return out
      }, what)
    const problems = []
    const pages = ['/overview', '/organizations', `/organizations/${orgId}`, '/api-keys', `/api-keys/${keyId}`, '/logs', '/audit', '/playground', '/routes', '/webhooks', '/operators', '/projections']
    for (const url of pages) {
      await phone.goto(url)
      await phone.waitForLoadState('networkidle')
      await phone.waitForTimeout(300)
      problems.push(...(await overflow(url)))
    }
    const dialogs = [
      ['/organizations', 'org-create'],
      ['/api-keys', 'key-issue'],
      ['/webhooks', 'new-webhook'],
      ['/operators', 'new-operator'],
      ['/routes', 'new-route'],
      [`/organizations/${orgId}`, 'org-edit'],
    ]
    for (const [url, button] of dialogs) {
      await phone.goto(url)
      const open = phone.getByTestId(button)
      await open.first().waitFor({ timeout: 5000 }).catch(() => {}) // absent when the signed-in user may not
      if (!(await open.count())) continue
      await open.first().click()
      await phone.locator('.arco-modal').first().waitFor()
      await phone.waitForTimeout(400) // the opening animation
      problems.push(...(await overflow(`${url} ${button}`)))
      await shot(`phone-dialog-${button}`, phone)
      await phone.keyboard.press('Escape')
    }
    // The request drawer and the date picker.
    await phone.goto(`/logs?api_key_id=${keyId}`)
    await phone.getByTestId('logs-table').locator('tbody tr').first().click()
    await phone.getByTestId('request-drawer').waitFor()
    await phone.waitForTimeout(400)
    problems.push(...(await overflow('request drawer')))
    await shot('phone-logs-drawer', phone)
    await phone.goto('/logs')
    await phone.locator('.arco-picker').first().click()
    await phone.locator('.arco-picker-range-container').first().waitFor()
    await phone.waitForTimeout(300)
    problems.push(...(await overflow('date picker')))
    await shot('phone-date-picker', phone)
    await phone.close()
    if (problems.length) throw new Error(problems.join('; '))
  }, { critical: false })

  await step('the key shows its per-model rate and thresholds', async () => {
    await page.goto(`/api-keys/${keyId}`)
    await page.getByTestId('budgets-model-rate').getByText(MODEL).waitFor()
    const alerts = await page.getByTestId('budgets-thresholds').textContent()
    if (!alerts.includes('50, 90 %')) throw new Error(`thresholds read: ${alerts}`)
  })

  await step('key audit timeline shows ApiKeyIssued', async () => {
    await page.goto(`/api-keys/${keyId}?tab=history`)
    await page.locator('[data-event-type="ApiKeyIssued"]').first().waitFor()
    await shot('api-key-history-light')
  })

  await step('rotate the key', async () => {
    await page.getByTestId('key-rotate-btn').click()
    await page.locator('.confirm-rotate .arco-modal-footer .arco-btn-primary, .arco-modal.confirm-rotate .arco-btn-primary').first().click()
    const code = page.getByTestId('secret-key')
    await code.waitFor()
    rotated = (await code.textContent()).trim()
    if (!rotated.startsWith('gr-') || rotated === secret) throw new Error('rotation did not return a new key')
    await page.getByTestId('copy-secret').click()
    await page.getByTestId('secret-done').click()
  })

  await step('revoke the key', async () => {
    await page.getByTestId('key-revoke-btn').click()
    await page.locator('.arco-modal.confirm-revoke .arco-btn-primary').first().click()
    await page.locator('.status-tag', { hasText: 'revoked' }).first().waitFor()
  })

  await step('the old key is refused (401)', async () => {
    for (const [label, k] of [['original', secret], ['rotated+revoked', rotated]]) {
      const r = await fetch(`${BASE}/v1/chat/completions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${k}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
      })
      if (r.status !== 401) throw new Error(`${label} key: expected 401, got ${r.status}`)
    }
  })

  let webhookSecret = null
  await step('create a webhook and read its signing secret once', async () => {
    await page.goto('/webhooks')
    await page.getByTestId('new-webhook').click()
    const modal = visibleModal()
    // The dashboard's own server answers (not 2xx): the attempts are still recorded.
    await modal.getByTestId('webhook-url').locator('input').fill(`${BASE}/e2e-webhook-sink`)
    await modal.getByTestId('webhook-description').locator('input').fill('e2e receiver')
    await modal.getByTestId('webhook-org').click()
    await page.locator('.arco-select-option:visible', { hasText: ORG }).first().click()
    await modal.locator('.arco-modal-footer .arco-btn-primary').click()
    const code = page.getByTestId('secret-key')
    await code.waitFor()
    webhookSecret = (await code.textContent()).trim()
    if (!webhookSecret.startsWith('whsec_')) throw new Error(`unexpected secret format: ${webhookSecret.slice(0, 6)}…`)
    await shot('webhook-secret-modal')
    await page.getByTestId('secret-saved').click()
    await page.getByTestId('secret-done').click()
    await code.waitFor({ state: 'hidden' })
    await page.getByTestId('webhooks-table').locator('tbody tr', { hasText: 'e2e-webhook-sink' }).waitFor()
    const listed = await page.getByTestId('webhooks-table').textContent()
    if (listed.includes(webhookSecret)) throw new Error('the secret is shown after creation')
  })

  await step('send a test ping, see its attempt and redeliver it', async () => {
    const row = page.getByTestId('webhooks-table').locator('tbody tr', { hasText: 'e2e-webhook-sink' }).first()
    await row.getByTestId('webhook-test').click()
    await row.getByTestId('webhook-deliveries').click()
    const list = page.getByTestId('webhook-delivery-list')
    const refresh = () => page.locator('.arco-drawer .drawer-toolbar button').first().click()
    await eventually(async () => (await list.locator('.attempts li').count()) >= 1, { refresh })
    await shot('webhook-deliveries-light')
    await list.getByTestId('redeliver').first().click()
    await eventually(async () => (await list.locator('.attempts li').count()) >= 2, { refresh })
    await page.locator('.arco-drawer .arco-drawer-close-btn').first().click()
  })

  await step('disable, rotate the secret of and delete the webhook', async () => {
    const row = () => page.getByTestId('webhooks-table').locator('tbody tr', { hasText: 'e2e-webhook-sink' }).first()
    await row().getByTestId('webhook-enabled').click()
    await eventually(async () => !(await row().locator('.arco-switch-checked').count()))
    await row().getByTestId('rotate-webhook').click()
    await page.locator('.arco-modal.confirm-rotate-webhook .arco-btn-primary').first().click()
    const code = page.getByTestId('secret-key')
    await code.waitFor()
    const rotatedSecret = (await code.textContent()).trim()
    if (!rotatedSecret.startsWith('whsec_') || rotatedSecret === webhookSecret) throw new Error('rotation did not return a new secret')
    await page.getByTestId('copy-secret').click()
    await page.getByTestId('secret-done').click()
    await row().getByTestId('delete-webhook').click()
    await page.locator('.arco-popconfirm .arco-btn-primary:visible').first().click()
    await eventually(async () => (await page.getByTestId('webhooks-table').locator('tbody tr', { hasText: 'e2e-webhook-sink' }).count()) === 0)
  })

  // ---- helper B's steps: charts, spend, models, refusals, playground key picker.
  // Each creates what it needs through the API (with the signed-in operator's session).
  const bApi = async (method, path, body) => {
    const token = await page.evaluate(() => localStorage.getItem('gr.token'))
    const r = await fetch(`${BASE}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await r.text()
    if (!r.ok) throw new Error(`${method} ${path} → ${r.status} ${text.slice(0, 200)}`)
    return text ? JSON.parse(text) : null
  }
  const chatAs = (secretKey) =>
    fetch(`${BASE}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${secretKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'count me' }] }),
    })
  const widthsAt390 = (p) =>
    p.evaluate(() => ({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, viewport: window.innerWidth }))

  const B_ORG = `B Spend Org ${stamp}`
  const B_KEY = `b-spend-key-${stamp}`
  let bOrgId = null
  await step('spend: an organization and key with traffic of their own', async () => {
    const org = await bApi('POST', '/v1/organizations', { name: B_ORG })
    bOrgId = org.id
    const key = await bApi('POST', '/v1/api-keys', { organization_id: org.id, name: B_KEY, permission: 'read' })
    for (let i = 0; i < 3; i++) {
      const r = await chatAs(key.key)
      if (r.status !== 200) throw new Error(`chat → ${r.status} ${(await r.text()).slice(0, 200)}`)
    }
  }, { critical: false })

  await step('the hourly chart: 24 h shows hour buckets', async () => {
    await page.goto('/overview')
    await page.getByTestId('card-requests').waitFor()
    const hourly = page.waitForRequest((r) => new URL(r.url()).pathname === '/v1/stats' && new URL(r.url()).searchParams.get('group_by') === 'hour')
    await page.getByTestId('overview-range-24h').click()
    await hourly
    const chart = page.getByTestId('overview-requests-chart')
    await eventually(async () => (await chart.getAttribute('data-bucket')) === 'hour')
    const buckets = Number(await chart.getAttribute('data-buckets'))
    if (buckets !== 24) throw new Error(`24 h should draw 24 hour buckets, drew ${buckets}`)
    await page.getByTestId('chart-requests').getByText('Requests per hour').waitFor()
    await eventually(async () => numberIn(await page.getByTestId('card-requests').locator('.stat-value').textContent()) >= 3, {
      refresh: () => page.getByTestId('overview-refresh').click(),
    })
    await shot('overview-24h-light')
    // 48 hours span three UTC days: asked in two hourly chunks, drawn as 48 hours.
    await page.getByTestId('overview-range-48h').click()
    await eventually(async () => Number(await chart.getAttribute('data-buckets')) === 48)
    await page.getByTestId('overview-range-7d').click()
    await eventually(async () => (await chart.getAttribute('data-bucket')) === 'day' && Number(await chart.getAttribute('data-buckets')) === 7)
  }, { critical: false })

  await step('spend over time and the top-spenders table', async () => {
    await page.goto('/overview')
    const panel = page.getByTestId('spend-panel')
    await panel.waitFor()
    const table = page.getByTestId('spenders-table')
    await eventually(async () => (await table.locator('tbody tr', { hasText: B_ORG }).count()) >= 1, {
      refresh: () => page.getByTestId('overview-refresh').click(),
    })
    // Echo models may be unpriced (cost $0.00): requests are drawn whatever the prices.
    await page.getByTestId('spend-metric-requests').click()
    await panel.getByTestId('spend-chart').locator('canvas').first().waitFor()
    await page.getByTestId('spend-metric-cost').click()
    const row = await table.locator('tbody tr', { hasText: B_ORG }).first().textContent()
    if (!/%/.test(row) || !/\$/.test(row)) throw new Error(`a spender row needs a cost and a share: ${row}`)
    await page.getByTestId('spend-split-key').click()
    await table.locator('tbody tr', { hasText: B_KEY }).first().waitFor()
    await page.getByTestId('spenders-search').locator('input').fill(B_KEY)
    await eventually(async () => (await table.locator('tbody tr', { hasText: B_KEY }).count()) === 1 && (await table.locator('tbody tr').count()) === 1)
    await page.getByTestId('spend-split-model').click()
    await page.getByTestId('spenders-search').locator('input').fill('')
    await table.locator('tbody tr', { hasText: MODEL }).first().waitFor()
    await panel.screenshot({ path: path.join(SHOTS, 'overview-spend-light.png') })
  }, { critical: false })

  await step('the Models page lists a model with its price', async () => {
    await page.goto('/models')
    const table = page.getByTestId('models-table')
    await table.locator('[data-testid="model-price-input"]').first().waitFor()
    let row = table.locator('tbody tr', { has: page.getByTestId(`model-${MODEL}`) }).first()
    if (!(await row.count())) {
      log(`      ${MODEL} is not in the catalogue; checking the first model listed`)
      row = table.locator('tbody tr').first()
    }
    const price = (await row.getByTestId('model-price-input').textContent()).trim()
    if (!/^\$\d/.test(price) && price !== '—') throw new Error(`input price reads ${price}`)
    log(`      ${(await row.locator('.name').textContent()).trim()}: input ${price} per 1M tokens`)
    const priced = await page.getByTestId('models-table').locator('[data-testid="model-price-input"]', { hasText: '$' }).count()
    if (!priced && !/^\$/.test(price)) log('      no model has a known price on this server')
    await page.getByTestId('models-search').locator('input').fill('no-such-model-anywhere')
    await page.getByTestId('models-table').getByText('No models match').waitFor()
  }, { critical: false })

  const R_ORG = `B Refusals Org ${stamp}`
  await step('refusals count on the organization page: its stats, reasons and budget forecast', async () => {
    const org = await bApi('POST', '/v1/organizations', { name: R_ORG, limits: { monthly_requests: 1 } })
    const key = await bApi('POST', '/v1/api-keys', { organization_id: org.id, name: `b-refused-key-${stamp}`, permission: 'read' })
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await chatAs(key.key)).status)
    if (statuses[0] !== 200 || statuses.slice(1).some((s) => s !== 429)) throw new Error(`expected 200 then 429s, got ${statuses.join(',')}`)
    const reload = async () => {
      await page.reload()
      await page.getByTestId('budgets-card').waitFor()
      await page.waitForTimeout(300)
    }
    await page.goto(`/organizations/${org.id}`)
    await page.getByTestId('budgets-card').waitFor()
    await eventually(async () => numberIn(await page.getByTestId('stats-refused').locator('.stat-value').textContent()) >= 3, { refresh: reload })
    await page.getByTestId('stats-refused-by-reason').waitFor()
    await page.getByTestId('budget-monthly_requests').getByTestId('budget-forecast').getByText('limit reached').waitFor()
    await page.getByTestId('last-used-at').getByText(/last used/).waitFor()
    await page.getByTestId('created-at').getByText(/Created/).waitFor()
    // The notice of this month's refusals (helper A's), where present: the limit and the count since.
    const notice = page.getByTestId('refusals-notice')
    if (await notice.count()) {
      const text = await notice.textContent()
      if (!/reached at \d\d:\d\d · 3 refused since/.test(text)) throw new Error(`refusals notice reads: ${text}`)
    }
    await shot('organization-refusals-light')
    // The same 429s in the request log: refused rows of this organization, three refusals in all.
    await page.goto(`/logs?organization_id=${org.id}&status=refused`)
    const rows = page.getByTestId('logs-table').locator('tbody tr', { hasText: '429' })
    await eventually(async () => (await rows.count()) > 0, { refresh: () => page.getByTestId('logs-apply').click() })
    const first = rows.first()
    const reason = (await first.getByTestId('log-reason').textContent()).trim()
    if (reason !== "Organization's monthly requests limit") throw new Error(`the 429 row's reason reads ${reason}`)
    const totals = await page.getByTestId('logs-totals').textContent()
    if (!/\b3 refused\b/.test(totals)) throw new Error(`the log's totals read ${totals}`)
  }, { critical: false })

  await step('playground: pick a key by name, see the snippet', async () => {
    if (!bOrgId) throw new Error('the spend step made no organization')
    await page.goto('/playground')
    await page.getByTestId('pg-pick-org').click()
    await page.locator('.arco-select-option:visible', { hasText: B_ORG }).first().click()
    await page.getByTestId('pg-pick-key').click()
    await page.locator('.arco-select-option:visible', { hasText: B_KEY }).first().click()
    await page.getByTestId('pg-sending-as').getByText(B_KEY).waitFor()
    const model = page.getByTestId('pg-model')
    if (!((await model.textContent()) ?? '').includes(MODEL)) {
      await model.click()
      await page.keyboard.type(MODEL)
      await page.keyboard.press('Enter')
    }
    const sent = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/v1/chat/completions')
    await page.getByTestId('pg-input').locator('textarea').fill('Hello as a picked key')
    await page.getByTestId('pg-send').click()
    const headers = (await sent).headers()
    if (!headers['x-gaiarouter-key-id']) throw new Error('the playground did not send X-GaiaRouter-Key-Id')
    if (!headers.authorization || headers.authorization.includes('gr-')) throw new Error('the playground should send the session, not a secret')
    const turn = page.getByTestId('pg-turn-assistant').last()
    await page.getByTestId('pg-metrics').last().waitFor({ timeout: 30000 })
    if (await turn.locator('.bubble.error').count()) throw new Error(`error answer: ${await turn.textContent()}`)
    for (const lang of ['curl', 'python', 'typescript']) {
      await page.getByTestId(`pg-snippet-${lang}`).click()
      const code = await page.getByTestId('pg-snippet-code').textContent()
      if (!code.includes(MODEL) || !code.includes('GAIAROUTER_API_KEY')) throw new Error(`${lang} snippet: ${code}`)
      if (/gr-[0-9a-f]{8}-[0-9a-f]{8,}/.test(code)) throw new Error(`${lang} snippet shows a secret`)
    }
    await page.getByTestId('pg-snippet-curl').click()
    await page.getByTestId('pg-snippet-copy').click()
    await shot('playground-key-picker-light')
  }, { critical: false })

  // Screenshots of every page in both themes at 1440x900 (stable names: <page>-<theme>.png).
  const pages = [
    ['overview', '/overview', 'card-requests'],
    ['organizations', '/organizations', 'org-table'],
    ['organization-detail', () => `/organizations/${orgId}`, 'budgets-card'],
    ['organization-history', () => `/organizations/${orgId}?tab=history`, 'audit-timeline'],
    ['api-keys', '/api-keys', 'key-table'],
    ['api-key-detail', () => `/api-keys/${keyId}`, 'budgets-card'],
    ['api-key-history', () => `/api-keys/${keyId}?tab=history`, 'audit-timeline'],
    ['logs', '/logs', 'logs-table'],
    ['logs-drawer', '/logs', 'logs-table'],
    ['audit', '/audit', 'audit-timeline'],
    ['models', '/models', 'models-table'],
    ['routes', '/routes', null],
    ['webhooks', '/webhooks', null],
    ['projections', '/projections', null],
    ['operators', '/operators', 'operators-table'],
    ['playground', '/playground', 'pg-messages'],
  ]
  /** Opens the request detail drawer of the first log row (helper A's drawer). */
  const openLogDrawer = async (p) => {
    await p.getByTestId('logs-table').locator('tbody tr').first().click()
    await p.locator('.arco-drawer').first().waitFor({ timeout: 5000 })
  }
  for (const theme of ['light', 'dark']) {
    await step(`screenshots (${theme})`, async () => {
      await page.evaluate((t) => localStorage.setItem('gr.theme', t), theme)
      const missing = []
      for (const [name, url, testid] of pages) {
        current = `screenshot ${name} ${theme}`
        try {
          await page.goto(typeof url === 'function' ? url() : url)
          if (testid) await page.getByTestId(testid).first().waitFor()
          else await page.waitForLoadState('networkidle')
          if (name === 'logs-drawer') await openLogDrawer(page)
        } catch (e) {
          missing.push(`${name}: ${e.message.split('\n')[0]}`)
        }
        await shot(`${name}-${theme}`)
      }
      if (missing.length) throw new Error(`pages not ready for their screenshot: ${missing.join('; ')}`)
    }, { critical: false })
  }

  await step('phone screenshots (390x844): nothing overflows', async () => {
    const phone = await context.newPage()
    watch(phone, 'phone')
    await phone.setViewportSize({ width: 390, height: 844 })
    const main = [
      ['overview', '/overview', 'card-requests'],
      ['organizations', '/organizations', 'org-table'],
      ['organization-detail', () => `/organizations/${orgId}`, 'budgets-card'],
      ['api-keys', '/api-keys', 'key-table'],
      ['api-key-detail', () => `/api-keys/${keyId}`, 'budgets-card'],
      ['logs', '/logs', 'logs-table'],
      ['audit', '/audit', 'audit-timeline'],
      ['models', '/models', 'models-table'],
      ['playground', '/playground', 'pg-messages'],
    ]
    const overflowing = []
    await phone.goto('/overview')
    for (const theme of ['light', 'dark']) {
      await phone.evaluate((t) => localStorage.setItem('gr.theme', t), theme)
      for (const [name, url, testid] of main) {
        current = `phone screenshot ${name} ${theme}`
        await phone.goto(typeof url === 'function' ? url() : url)
        if (testid) await phone.getByTestId(testid).first().waitFor().catch(() => overflowing.push(`${name} (${theme}): not shown`))
        await shot(`phone-${name}-${theme}`, phone)
        const w = await widthsAt390(phone)
        if (w.doc > w.viewport || w.body > w.viewport) overflowing.push(`${name} (${theme}): ${JSON.stringify(w)}`)
      }
    }
    await phone.close()
    if (overflowing.length) throw new Error(`at 390 px: ${overflowing.join('; ')}`)
  }, { critical: false })

  await step('phone width', async () => {
    const phone = await context.newPage()
    watch(phone, 'phone')
    await phone.setViewportSize({ width: 390, height: 844 })
    await phone.goto('/overview')
    await phone.getByTestId('card-requests').waitFor()
    await shot('phone-overview-dark', phone)
    await phone.evaluate(() => localStorage.setItem('gr.theme', 'light'))
    await phone.goto('/api-keys')
    await phone.getByTestId('key-table').waitFor()
    await shot('phone-api-keys-light', phone)
    await phone.goto('/playground')
    await shot('phone-playground-light', phone)
    await phone.goto(`/organizations/${orgId}`)
    await phone.getByTestId('budgets-card').waitFor()
    await shot('phone-organization-budgets-light', phone)
    await phone.getByTestId('org-edit').click()
    await phone.getByTestId('limits-fields').waitFor()
    await phone.waitForTimeout(400) // the modal's opening animation
    const overflow = await phone.evaluate(() => {
      const modal = document.querySelector('.arco-modal')
      const fields = document.querySelector('[data-testid="limits-fields"]')
      const r = modal.getBoundingClientRect()
      return { left: r.left, right: r.right, viewport: window.innerWidth, fields: fields.scrollWidth - fields.clientWidth }
    })
    if (overflow.left < 0 || overflow.right > overflow.viewport || overflow.fields > 0) throw new Error(`the limits form overflows at 390 px: ${JSON.stringify(overflow)}`)
    await shot('phone-organization-limits-form-light', phone)
    await phone.close()
  }, { critical: false })

  await step('log out', async () => {
    await page.goto('/overview')
    await page.getByTestId('user-menu').click()
    await page.getByTestId('logout').click()
    await page.waitForURL(/\/login/)
    await shot('login-after-logout-light')
    await page.evaluate(() => localStorage.setItem('gr.theme', 'dark'))
    await page.reload()
    await page.getByTestId('login-username').waitFor()
    await shot('login-dark')
  }, { critical: false })
} catch (e) {
  log(String(e.message ?? e))
} finally {
  await browser.close()
}

if (consoleErrors.length) {
  console.log(`\n${consoleErrors.length} console error(s) in the browser:`)
  for (const e of consoleErrors) console.log(`  - ${e}`)
}
const ok = failures === 0 && consoleErrors.length === 0
console.log(`\ne2e: ${ok ? 'PASSED' : 'FAILED'} (${passedSteps} passed step(s), ${failures} failed step(s), ${consoleErrors.length} console error(s)); screenshots in ${SHOTS}`)
process.exit(ok ? 0 : 1)
