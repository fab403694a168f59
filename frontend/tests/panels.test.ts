import { describe, expect, it, beforeEach } from 'vitest'
import { mount, RouterLinkStub } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import ArcoVue from '@arco-design/web-vue'
import ActivityLine from '@/components/ActivityLine.vue'
import CodeSnippet from '@/components/CodeSnippet.vue'
import BudgetsCard from '@/components/BudgetsCard.vue'
import RangeSelect from '@/components/RangeSelect.vue'
import { presetRange, type ChartRange } from '@/utils/ranges'

const global = { plugins: [ArcoVue], stubs: { RouterLink: RouterLinkStub } }

beforeEach(() => setActivePinia(createPinia()))

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
  it('shows a forecast per budget', () => {
    const now = Date.now()
    const start = new Date(now - 10 * 86_400_000).toISOString()
    const w = mount(BudgetsCard, {
      props: {
        limits: { monthly_requests: 100 },
        createdAt: start,
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
  })
})

describe('ActivityLine', () => {
  it('says when it was created and last used', () => {
    const w = mount(ActivityLine, { props: { createdAt: new Date(Date.now() - 3 * 86_400_000).toISOString(), lastUsedAt: null }, global })
    expect(w.get('[data-testid="created-at"]').text()).toBe('Created 3 days ago')
    expect(w.get('[data-testid="last-used-at"]').text()).toBe('never used')
  })
  it('hides last use when the server does not say', () => {
    const w = mount(ActivityLine, { props: { createdAt: null }, global })
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
