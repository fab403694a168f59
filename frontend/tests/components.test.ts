import { describe, expect, it, vi, beforeEach } from 'vitest'
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import ArcoVue from '@arco-design/web-vue'
import UsageBar from '@/components/UsageBar.vue'
import StatCard from '@/components/StatCard.vue'
import PageState from '@/components/PageState.vue'
import SecretKeyModal from '@/components/SecretKeyModal.vue'
import { ApiError } from '@/api/client'
import { formatInt } from '@/utils/format'

const global = { plugins: [ArcoVue] }

beforeEach(() => {
  setActivePinia(createPinia())
  sessionStorage.clear()
})

describe('UsageBar', () => {
  it('shows used against limit with a progress bar', () => {
    const w = mount(UsageBar, { props: { label: 'Requests', used: 850, limit: 1000, format: formatInt }, global })
    expect(w.text()).toContain('850')
    expect(w.text()).toContain('1,000')
    expect(w.find('.arco-progress').exists()).toBe(true)
  })
  it('shows ∞ and no bar when unlimited', () => {
    const w = mount(UsageBar, { props: { label: 'Requests', used: 3, limit: null, format: formatInt }, global })
    expect(w.text()).toContain('∞')
    expect(w.find('.arco-progress').exists()).toBe(false)
  })
})

describe('StatCard', () => {
  it('renders title, value and hint', () => {
    const w = mount(StatCard, { props: { title: 'Cost', value: '$1.00', hint: 'last 30 days', testid: 'c' }, global })
    expect(w.get('[data-testid="c"]').text()).toContain('$1.00')
    expect(w.text()).toContain('last 30 days')
  })
})

describe('PageState', () => {
  it('shows a not-available state for 404s', () => {
    const w = mount(PageState, { props: { error: new ApiError(404, 'Not found') }, global, slots: { default: '<p>content</p>' } })
    expect(w.text()).toContain('Not available')
    expect(w.text()).not.toContain('content')
  })
  it('shows the API message for other errors, with a retry', async () => {
    const w = mount(PageState, { props: { error: new ApiError(500, 'database is down') }, global })
    expect(w.text()).toContain('database is down')
    await w.get('button').trigger('click')
    expect(w.emitted('retry')).toHaveLength(1)
  })
  it('renders the content when fine', () => {
    const w = mount(PageState, { props: {}, global, slots: { default: '<p>content</p>' } })
    expect(w.text()).toContain('content')
  })
})

describe('SecretKeyModal', () => {
  it('shows the key once and copies it', async () => {
    const writeText = vi.fn(async () => {})
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true })
    const w = mount(SecretKeyModal, { props: { secret: 'gr-AbCd1234-s3cr3t', keyName: 'svc' }, global, attachTo: document.body })
    await w.vm.$nextTick()
    const code = document.querySelector('[data-testid="secret-key"]')
    expect(code?.textContent).toBe('gr-AbCd1234-s3cr3t')
    expect(document.body.textContent).toContain('will not be shown again')
    ;(document.querySelector('[data-testid="copy-secret"]') as HTMLButtonElement).click()
    await new Promise((r) => setTimeout(r, 0))
    expect(writeText).toHaveBeenCalledWith('gr-AbCd1234-s3cr3t')
    w.unmount()
  })
})
