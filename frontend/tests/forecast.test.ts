import { describe, expect, it } from 'vitest'
import { forecastBudget, forecastOf, forecastText } from '@/utils/forecast'
import { reasonLabel } from '@/utils/logs'
import { snippet } from '@/utils/snippets'
import type { Budget } from '@/api/types'

const local = (y: number, m: number, d: number, h = 0, min = 0) => new Date(y, m - 1, d, h, min)

describe('budget forecast', () => {
  const start = local(2026, 12, 1)
  const resets = local(2027, 1, 1)
  it('carries the rate so far forward to the limit', () => {
    // 10 days in, 400 of 1000 used: 40 a day, the 600 left take 15 more days → Dec 26.
    const f = forecastBudget({ limit: 1000, used: 400, periodStart: start, resetsAt: resets }, local(2026, 12, 11))
    expect(f.kind).toBe('reaches')
    expect(f.kind === 'reaches' && f.at.getDate()).toBe(26)
    expect(forecastText(f, local(2026, 12, 11))).toBe('at this rate: reached Dec 26')
  })
  it('says not before it resets when the period ends first', () => {
    const f = forecastBudget({ limit: 1000, used: 100, periodStart: start, resetsAt: resets }, local(2026, 12, 11))
    expect(f).toEqual({ kind: 'not_before_reset' })
    expect(forecastText(f)).toBe('at this rate: not before it resets')
  })
  it('knows a reached limit and an unused budget', () => {
    expect(forecastBudget({ limit: 10, used: 10, periodStart: start, resetsAt: resets })).toEqual({ kind: 'reached' })
    expect(forecastBudget({ limit: 10, used: 0, periodStart: start, resetsAt: resets }, local(2026, 12, 2))).toEqual({ kind: 'not_before_reset' })
    expect(forecastBudget({ limit: 10, used: 0, periodStart: new Date(0), resetsAt: null })).toEqual({ kind: 'no_usage' })
    expect(forecastText({ kind: 'reached' })).toBe('limit reached')
  })
  it('gives the hour when the limit falls within the day', () => {
    const now = local(2026, 12, 1, 12)
    const f = forecastBudget({ limit: 100, used: 60, periodStart: local(2026, 12, 1), resetsAt: local(2026, 12, 2) }, now)
    // 60 in 12 h: 5 an hour, 40 left: 8 h → 20:00.
    expect(forecastText(f, now)).toBe('at this rate: reached at 20:00')
  })
  it('reads a budget as the API answers it', () => {
    const b: Budget = { name: 'monthly_requests', period: 'month', metric: 'requests', limit: 100, used: 50, remaining: 50, percent_used: 50, resets_at: resets.toISOString() }
    expect(forecastOf(b, null)).toBeNull()
    expect(forecastOf(b, start.toISOString(), local(2026, 12, 5))?.kind).toBe('reaches')
  })
})

describe('refusal reasons', () => {
  it('puts reason codes in words', () => {
    expect(reasonLabel('api_key_monthly_requests_limit')).toBe("Key's monthly requests limit")
    expect(reasonLabel('organization_requests_per_minute_limit')).toBe("Organization's requests per minute limit")
    expect(reasonLabel('api_key_model_concurrent_requests_limit')).toBe("Key's per-model requests in flight limit")
    expect(reasonLabel('organization_daily_cost_limit')).toBe("Organization's daily cost limit")
    expect(reasonLabel('model_not_found')).toBe('Unknown model')
    expect(reasonLabel('api_key_revoked')).toBe('Key revoked')
    expect(reasonLabel('something_new')).toBe('Something new')
  })
})

describe('snippets', () => {
  const input = { baseUrl: 'https://gw.example.com/', model: 'echo/test', keyName: 'ci key' }
  it('never holds a secret, reads the key from the environment', () => {
    for (const lang of ['curl', 'python', 'typescript'] as const) {
      const s = snippet(lang, input)
      expect(s).toContain('GAIAROUTER_API_KEY')
      expect(s).toContain('echo/test')
      expect(s).not.toMatch(/gr-[0-9a-f]{4}/)
    }
  })
  it('writes each language for the gateway', () => {
    expect(snippet('curl', input)).toContain('curl https://gw.example.com/v1/chat/completions')
    expect(snippet('curl', input)).toContain('Bearer $GAIAROUTER_API_KEY')
    expect(snippet('python', input)).toContain('base_url="https://gw.example.com/v1"')
    expect(snippet('typescript', input)).toContain("import OpenAI from 'openai'")
    expect(snippet('typescript', input)).toContain('process.env.GAIAROUTER_API_KEY')
  })
  it('quotes a prompt with a single quote for the shell', () => {
    expect(snippet('curl', { ...input, prompt: "it's" })).toContain(`'\\''`)
  })
})
