// The README's screenshots: every page of the dashboard in both themes at 1440x900,
// against a server holding `gaiarouter demo seed` traffic (scripts/screenshots.sh
// starts one). Writes frontend/screenshots/<page>-<theme>.png; exits 1 when a page
// is not ready or the browser logs an error.
//   GAIAROUTER_URL=http://127.0.0.1:8080 GAIAROUTER_ADMIN_PASSWORD=… node e2e/screenshots.mjs
import { chromium } from 'playwright-core'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const BASE = (process.env.GAIAROUTER_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '')
const USER = process.env.GAIAROUTER_ADMIN_USERNAME ?? 'admin'
const PASS = process.env.GAIAROUTER_ADMIN_PASSWORD ?? 'admin'
const OUT = process.env.SCREENSHOTS_DIR ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'screenshots')
// The demo's busiest organization and key (src/demo/mod.rs).
const ORG = 'Acme Robotics'
const KEY = 'prod-backend'

fs.mkdirSync(OUT, { recursive: true })
const errors = []
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
})
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, baseURL: BASE })
context.setDefaultTimeout(20000)
const page = await context.newPage()
page.on('console', (m) => m.type() === 'error' && errors.push(`${page.url()}: ${m.text()}`))
page.on('pageerror', (e) => errors.push(`${page.url()}: uncaught ${e.message}`))

await page.goto('/login')
await page.getByTestId('login-username').locator('input').fill(USER)
await page.getByTestId('login-password').locator('input').fill(PASS)
await page.getByTestId('login-submit').click()
await page.waitForURL((url) => !url.pathname.endsWith('/login'))

// Ids of the demo organization and key, through the API with the session's token.
const token = await page.evaluate(() => {
  for (const store of [localStorage, sessionStorage]) {
    for (let i = 0; i < store.length; i++) {
      const value = store.getItem(store.key(i)) ?? ''
      const match = value.match(/eyJ[\w-]+\.[\w-]+\.[\w-]+/)
      if (match) return match[0]
    }
  }
  return null
})
const api = async (p) => {
  const answer = await page.request.get(p, { headers: token ? { authorization: `Bearer ${token}` } : {} })
  if (!answer.ok()) throw new Error(`${p}: ${answer.status()}`)
  return answer.json()
}
const orgs = (await api('/v1/organizations?limit=100')).data
const org = orgs.find((o) => o.name === ORG)
if (!org) throw new Error(`no organization "${ORG}": run \`gaiarouter demo seed\` first`)
const key = (await api(`/v1/api-keys?organization_id=${org.id}&limit=100`)).data.find((k) => k.name === KEY)
if (!key) throw new Error(`no key "${KEY}" in ${ORG}`)

const pages = [
  ['overview', '/overview', 'card-requests'],
  ['organizations', '/organizations', 'org-table'],
  ['organization-detail', `/organizations/${org.id}`, 'budgets-card'],
  ['api-keys', '/api-keys', 'key-table'],
  ['api-key-detail', `/api-keys/${key.id}`, 'budgets-card'],
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
const notReady = []
for (const theme of ['light', 'dark']) {
  await page.evaluate((t) => localStorage.setItem('gr.theme', t), theme)
  for (const [name, url, testid] of pages) {
    try {
      await page.goto(url)
      if (testid) await page.getByTestId(testid).first().waitFor()
      else await page.waitForLoadState('networkidle')
      if (name === 'logs-drawer') {
        await page.getByTestId('logs-table').locator('tbody tr').first().click()
        await page.locator('.arco-drawer').first().waitFor()
      }
    } catch (e) {
      notReady.push(`${name} (${theme}): ${e.message.split('\n')[0]}`)
    }
    await page.waitForTimeout(1200) // charts finish their animation
    await page.screenshot({ path: path.join(OUT, `${name}-${theme}.png`), fullPage: name !== 'logs' })
    console.log(`screenshot ${name}-${theme}.png`)
  }
}
await browser.close()
const problems = [...notReady, ...errors]
if (problems.length) {
  console.error(`screenshots: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
console.log(`screenshots: ${pages.length * 2} written to ${OUT}`)
