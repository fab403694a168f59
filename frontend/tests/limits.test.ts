import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import ArcoVue from '@arco-design/web-vue'
import type { Budget, Limits, Usage } from '@/api/types'
import {
  budgetField,
  budgetLabel,
  budgetStatus,
  decimalsOf,
  emptyLimits,
  fromDraft,
  limitsPatch,
  newModelRow,
  normalizeLimits,
  resetsText,
  tidyThresholds,
  tightestBudget,
  toDraft,
  validateDraft,
} from '@/utils/limits'
import BudgetsCard from '@/components/BudgetsCard.vue'
import LimitsFields from '@/components/LimitsFields.vue'

function limits(over: Partial<Limits> = {}): Limits {
  return { ...emptyLimits(), ...over }
}

const gpt = { requests_per_minute: 60, tokens_per_minute: 10_000, concurrent_requests: null }
const claude = { requests_per_minute: 30, tokens_per_minute: null, concurrent_requests: 2 }

describe('limitsPatch (the merge patch an edit sends)', () => {
  const before = limits({
    daily_requests: 1000,
    monthly_cost_usd: 12.5,
    requests_per_minute: 600,
    models: { 'openai/gpt-4o': gpt, 'anthropic/claude': claude },
    alert_thresholds_percent: [50, 90],
  })

  it('sends nothing when nothing changed', () => {
    expect(limitsPatch(before, structuredClone(before))).toBeUndefined()
    expect(limitsPatch(before, fromDraft(toDraft(before)))).toBeUndefined()
  })

  it('sends only the changed limit', () => {
    expect(limitsPatch(before, { ...before, daily_requests: 2000 })).toEqual({ daily_requests: 2000 })
  })

  it('sends null for a cleared limit', () => {
    expect(limitsPatch(before, { ...before, monthly_cost_usd: null })).toEqual({ monthly_cost_usd: null })
  })

  it('sends "<model>": null for a removed model row', () => {
    const d = toDraft(before)
    d.models = d.models.filter((r) => r.model !== 'anthropic/claude')
    expect(limitsPatch(before, fromDraft(d))).toEqual({ models: { 'anthropic/claude': null } })
  })

  it('sends only the changed model, and inside it only the changed rates', () => {
    const d = toDraft(before)
    d.models.find((r) => r.model === 'openai/gpt-4o')!.tokens_per_minute = null
    expect(limitsPatch(before, fromDraft(d))).toEqual({ models: { 'openai/gpt-4o': { tokens_per_minute: null } } })
  })

  it('sends a new model in full, and a renamed one as removed plus added', () => {
    const d = toDraft(before)
    d.models.push(newModelRow('gemini', { requests_per_minute: 5 }))
    d.models.find((r) => r.model === 'anthropic/claude')!.model = 'anthropic/claude-3'
    expect(limitsPatch(before, fromDraft(d))).toEqual({
      models: {
        gemini: { requests_per_minute: 5, tokens_per_minute: null, concurrent_requests: null },
        'anthropic/claude': null,
        'anthropic/claude-3': claude,
      },
    })
  })

  it('sends the thresholds whole, and null to go back to the default', () => {
    expect(limitsPatch(before, { ...before, alert_thresholds_percent: [50, 80, 95] })).toEqual({ alert_thresholds_percent: [50, 80, 95] })
    const d = toDraft(before)
    d.thresholds = []
    expect(limitsPatch(before, fromDraft(d))).toEqual({ alert_thresholds_percent: null })
  })

  it('treats fields an older server leaves out as unlimited', () => {
    const old = { monthly_requests: 10, monthly_tokens: null, monthly_cost_usd: null } as unknown as Limits
    expect(limitsPatch(old, limits({ monthly_requests: 10 }))).toBeUndefined()
    expect(limitsPatch(old, limits({ monthly_requests: 10, daily_tokens: 5 }))).toEqual({ daily_tokens: 5 })
  })
})

describe('the draft', () => {
  it('round-trips limits, keeping every field', () => {
    const l = limits({ weekly_tokens: 7, total_cost_usd: 0.000000001, models: { m: gpt }, alert_thresholds_percent: [10] })
    expect(fromDraft(toDraft(l))).toEqual(l)
    expect(Object.keys(fromDraft(toDraft(null))).length).toBe(17)
  })

  it('ignores an untouched empty model row', () => {
    const d = toDraft(null)
    d.models.push(newModelRow())
    expect(validateDraft(d)).toEqual([])
    expect(fromDraft(d).models).toEqual({})
  })

  it('sorts and de-duplicates thresholds as typed', () => {
    expect(tidyThresholds(['80', '50', '80%', ' 100 '])).toEqual(['50', '80', '100'])
  })
})

describe('validateDraft mirrors the API', () => {
  const valid = () => toDraft(limits())

  it('accepts an empty draft (everything unlimited)', () => {
    expect(validateDraft(valid())).toEqual([])
  })

  it('wants counts to be whole and not negative', () => {
    const d = valid()
    d.values.daily_requests = 1.5
    d.values.requests_per_minute = -1
    expect(validateDraft(d)).toHaveLength(2)
  })

  it('allows a cost of 0 with up to 9 decimals, not 10', () => {
    const d = valid()
    d.values[budgetField('day', 'cost_usd')] = 0
    d.values.monthly_cost_usd = 0.123456789
    expect(validateDraft(d)).toEqual([])
    d.values.monthly_cost_usd = 0.1234567891
    expect(validateDraft(d)[0]).toMatch(/9 decimal places/)
    d.values.monthly_cost_usd = -2
    expect(validateDraft(d)[0]).toMatch(/0 or more/)
  })

  it('counts decimals of tiny numbers too', () => {
    expect(decimalsOf(1e-9)).toBe(9)
    expect(decimalsOf(1.5e-10)).toBe(11)
    expect(decimalsOf(12)).toBe(0)
  })

  it('wants thresholds rising from 1 to 100, at most 10', () => {
    const d = valid()
    d.thresholds = ['50', '80', '100']
    expect(validateDraft(d)).toEqual([])
    d.thresholds = ['80', '50']
    expect(validateDraft(d)[0]).toMatch(/rise/)
    d.thresholds = ['0']
    expect(validateDraft(d)[0]).toMatch(/1 to 100/)
    d.thresholds = ['101']
    expect(validateDraft(d)[0]).toMatch(/1 to 100/)
    d.thresholds = ['abc']
    expect(validateDraft(d)[0]).toMatch(/1 to 100/)
    d.thresholds = Array.from({ length: 11 }, (_, i) => String(i + 1))
    expect(validateDraft(d)[0]).toMatch(/At most 10/)
  })

  it('wants model names of 1 to 256 characters, unique, at most 64 models', () => {
    const d = valid()
    d.models = [newModelRow('', { requests_per_minute: 5 })]
    expect(validateDraft(d)[0]).toMatch(/model name/)
    d.models = [newModelRow('x'.repeat(257), { requests_per_minute: 5 })]
    expect(validateDraft(d)[0]).toMatch(/256/)
    d.models = [newModelRow('a', { requests_per_minute: 5 }), newModelRow('a', { requests_per_minute: 6 })]
    expect(validateDraft(d)[0]).toMatch(/twice/)
    d.models = Array.from({ length: 65 }, (_, i) => newModelRow(`m${i}`, { requests_per_minute: 1 }))
    expect(validateDraft(d)[0]).toMatch(/64/)
    d.models = [newModelRow('a')]
    expect(validateDraft(d)[0]).toMatch(/at least one rate/)
  })
})

const budget = (over: Partial<Budget>): Budget => ({
  name: 'daily_requests',
  period: 'day',
  metric: 'requests',
  limit: 100,
  used: 10,
  remaining: 90,
  percent_used: 10,
  resets_at: '2026-12-01T00:00:00Z',
  ...over,
})

describe('budgets on show', () => {
  it('colours bars at 80 % and 100 %', () => {
    expect(budgetStatus(79.9)).toBe('normal')
    expect(budgetStatus(80)).toBe('warning')
    expect(budgetStatus(100)).toBe('danger')
    expect(budgetStatus(140)).toBe('danger')
    expect(budgetStatus(null)).toBe('normal')
  })

  it('picks the budget closest to its limit', () => {
    const usage = {
      month: '2026-11',
      requests: 0,
      tokens: 0,
      cost_usd: 0,
      budgets: [budget({}), budget({ name: 'monthly_cost_usd', period: 'month', metric: 'cost_usd', percent_used: 92 })],
    } as Usage
    expect(tightestBudget(usage)?.name).toBe('monthly_cost_usd')
    expect(tightestBudget({ ...usage, budgets: [] })).toBeNull()
    expect(tightestBudget(undefined)).toBeNull()
  })

  it('names budgets and their resets', () => {
    expect(budgetLabel({ period: 'week', metric: 'cost_usd' })).toBe('Weekly cost')
    expect(resetsText(null)).toBe('never resets')
    expect(resetsText('2026-11-30T12:00:00Z', Date.parse('2026-11-30T07:00:00Z'))).toBe('resets in 5 hours')
  })
})

describe('BudgetsCard', () => {
  const global = { plugins: [ArcoVue] }
  it('lists each budget with a bar and when it resets, then the rates', () => {
    const usage: Usage = {
      month: '2026-11',
      requests: 0,
      tokens: 0,
      cost_usd: 0,
      budgets: [
        // Its reset lies ahead of whenever the test runs (a fixed date passes).
        budget({ used: 85, remaining: 15, percent_used: 85, resets_at: new Date(Date.now() + 5 * 3600_000).toISOString() }),
        budget({ name: 'total_cost_usd', period: 'total', metric: 'cost_usd', limit: 50, used: 60, remaining: 0, percent_used: 120, resets_at: null }),
      ],
    }
    const l = normalizeLimits({ daily_requests: 100, total_cost_usd: 50, requests_per_minute: 60, models: { 'openai/gpt-4o': gpt } })
    const w = mount(BudgetsCard, { props: { limits: l, usage }, global })
    const daily = w.get('[data-testid="budget-daily_requests"]')
    expect(daily.text()).toContain('Daily requests')
    expect(daily.text()).toContain('85 % used')
    expect(daily.text()).toMatch(/resets (in|tomorrow)/)
    expect(daily.find('.pct.warning').exists()).toBe(true)
    const total = w.get('[data-testid="budget-total_cost_usd"]')
    expect(total.text()).toContain('$60.00')
    expect(total.text()).toContain('never resets')
    expect(total.find('.pct.danger').exists()).toBe(true)
    expect(w.get('[data-testid="budgets-rates"]').text()).toContain('Requests / min 60')
    expect(w.get('[data-testid="budgets-model-rate"]').text()).toContain('openai/gpt-4o')
    expect(w.get('[data-testid="budgets-thresholds"]').text()).toContain('50, 80, 100 % (default)')
  })

  it('says when nothing is capped', () => {
    const w = mount(BudgetsCard, { props: { limits: {}, usage: null }, global })
    expect(w.text()).toContain('No budgets')
    expect(w.get('[data-testid="budgets-rates"]').text()).toContain('unlimited')
  })
})

describe('LimitsFields', () => {
  const global = { plugins: [ArcoVue] }
  it('shows every budget cell, the rates and a model row, and removes the row', async () => {
    const draft = toDraft(limits({ models: { 'openai/gpt-4o': gpt } }))
    const w = mount(LimitsFields, { props: { modelValue: draft, 'onUpdate:modelValue': () => {} }, global })
    expect(w.findAll('[data-testid^="limit-daily_"]')).toHaveLength(3)
    expect(w.find('[data-testid="limit-total_cost_usd"]').exists()).toBe(true)
    expect(w.find('[data-testid="limit-concurrent_requests"]').exists()).toBe(true)
    expect(w.findAll('[data-testid="limit-model-row"]')).toHaveLength(1)
    await w.get('[data-testid="limit-model-remove"]').trigger('click')
    expect(draft.models).toHaveLength(0)
    await w.get('[data-testid="limit-model-add"]').trigger('click')
    expect(draft.models).toHaveLength(1)
  })
})
