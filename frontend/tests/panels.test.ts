import { describe, expect, it, beforeEach } from 'vitest'
import { mount, RouterLinkStub } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import ArcoVue from '@arco-design/web-vue'
import RefusalsPanel from '@/components/RefusalsPanel.vue'
import CodeSnippet from '@/components/CodeSnippet.vue'
import BudgetsCard from '@/components/BudgetsCard.vue'
import RangeSelect from '@/components/RangeSelect.vue'
import { presetRange, type ChartRange } from '@/utils/ranges'

const global = { plugins: [ArcoVue], stubs: { RouterLink: RouterLinkStub } }

beforeEach(() => setActivePinia(createPinia()))

describe('RefusalsPanel', () => {
  it('sums the refusals and says what happened per reason', () => {
    const at = new Date()
    at.setHours(14, 2, 0, 0)
    const w = mount(RefusalsPanel, {
      props: {
        subject: 'organization',
        logQuery: { organization_id: 'o1' },
        refusals: [
          { reason: 'organization_monthly_requests_limit', http_status: 429, first_at: at.toISOString(), last_at: at.toISOString(), count: 37 },
          { reason: 'model_not_found', http_status: 404, first_at: at.toISOString(), last_at: at.toISOString(), count: 2 },
        ],
      },
      global,
    })
    expect(w.get('[data-testid="refusals-total"]').text()).toBe('39')
    expect(w.text()).toContain('Hit its monthly request limit at 14:02, 37 refused since')
    expect(w.text()).toContain('2 refused: unknown model (HTTP 404)')
    expect(w.findComponent(RouterLinkStub).props('to')).toEqual({ name: 'logs', query: { organization_id: 'o1', status: 'refused' } })
  })
  it('shows nothing when nothing was refused', () => {
    const w = mount(RefusalsPanel, { props: { subject: 'key', logQuery: {}, refusals: [] }, global })
    expect(w.find('[data-testid="refusals-panel"]').exists()).toBe(false)
  })
})

describe('CodeSnippet', () => {
  it('shows the chosen model and the key by name, never a secret', async () => {
    const w = mount(CodeSnippet, { props: { model: 'echo/test', keyName: 'ci' }, global })
    const code = () => w.get('[data-testid="pg-snippet-code"]').text()
    expect(code()).toContain('curl ')
    expect(code()).toContain('$GAIAROUTER_API_KEY')
    expect(code()).toContain('“ci”')
    await w.get('[data-testid="pg-snippet-python"] input').setValue(true)
    expect(code()).toContain('from openai import OpenAI')
  })
})

describe('BudgetsCard', () => {
  it('shows when it was created and last used, and a forecast per budget', () => {
    const now = Date.now()
    const start = new Date(now - 10 * 86_400_000).toISOString()
    const w = mount(BudgetsCard, {
      props: {
        limits: { monthly_requests: 100 },
        createdAt: start,
        lastUsedAt: null,
        usage: {
          month: '2026-11',
          requests: 100,
          tokens: 0,
          cost_usd: 0,
          periods: { month: { start, requests: 100, tokens: 0, cost_usd: 0 } },
          budgets: [{ name: 'monthly_requests', period: 'month', metric: 'requests', limit: 100, used: 100, remaining: 0, percent_used: 100, resets_at: new Date(now + 86_400_000).toISOString() }],
        },
      },
      global,
    })
    expect(w.get('[data-testid="budget-forecast"]').text()).toBe('limit reached')
    expect(w.get('[data-testid="budget-forecast"]').classes()).toContain('danger')
    expect(w.get('[data-testid="last-used-at"]').text()).toBe('never used')
    expect(w.get('[data-testid="created-at"]').text()).toContain('created')
  })
  it('hides last use when the server does not say', () => {
    const w = mount(BudgetsCard, { props: { limits: {}, usage: null }, global })
    expect(w.find('[data-testid="last-used-at"]').exists()).toBe(false)
  })
})

describe('RangeSelect', () => {
  it('switches to hourly buckets for 24 h', async () => {
    const w = mount(RangeSelect, {
      props: { modelValue: presetRange('30d'), 'onUpdate:modelValue': (v: ChartRange) => w.setProps({ modelValue: v }) },
      global,
    })
    await w.get('[data-testid="range-24h"] input').setValue(true)
    const r = w.props('modelValue') as ChartRange
    expect(r.bucket).toBe('hour')
    expect(r.hours).toBe(24)
  })
})
