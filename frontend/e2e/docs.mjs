// The API docs page (/docs, Swagger UI embedded in the gaiarouter binary) in headless
// Chromium: it must render the OpenAPI document under the server's
// Content-Security-Policy with no console error (a CSP violation is one) and load
// nothing from another origin.
//   GAIAROUTER_URL=http://127.0.0.1:8080 node e2e/docs.mjs
import { chromium } from 'playwright-core'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const BASE = (process.env.GAIAROUTER_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '')
const SHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'e2e-screenshots')
fs.mkdirSync(SHOTS, { recursive: true })

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})
const problems = []
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  page.on('console', (msg) => msg.type() === 'error' && problems.push(`console: ${msg.text()}`))
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`))
  page.on('request', (r) => {
    if (!r.url().startsWith(BASE) && !r.url().startsWith('data:')) problems.push(`foreign request: ${r.url()}`)
  })
  const response = await page.goto(`${BASE}/docs`)
  const csp = response.headers()['content-security-policy'] ?? ''
  if (!csp.includes("frame-ancestors 'none'")) problems.push(`no CSP on /docs: "${csp}"`)
  await page.locator('.swagger-ui .info .title', { hasText: 'GaiaRouter' }).waitFor({ timeout: 15000 })
  const operations = await page.locator('.opblock').count()
  if (operations < 10) problems.push(`only ${operations} operations rendered`)
  await page.locator('.opblock').first().click()
  await page.waitForTimeout(500)
  await page.screenshot({ path: path.join(SHOTS, 'docs.png') })
  console.log(`docs: ${operations} operations rendered`)
} catch (e) {
  problems.push(`failed: ${e?.message?.split('\n')[0] ?? e}`)
} finally {
  await browser.close()
}
if (problems.length) {
  console.log(`docs e2e: FAILED\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
console.log('docs e2e: PASSED (0 console errors, nothing from another origin)')
