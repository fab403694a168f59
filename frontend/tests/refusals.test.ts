import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import ArcoVue from '@arco-design/web-vue'
import { refusalSentence, shortTime, totalRefused } from '@/utils/refusals'
import { formatDateTime } from '@/utils/format'
import RefusalsNotice from '@/components/RefusalsNotice.vue'

const now = new Date(2026, 10, 30, 15, 0, 0)
const at = (h: number, m: number) => new Date(2026, 10, 30, h, m, 0).toISOString()
const flood = { reason: 'api_key_monthly_requests_limit', http_status: 429, first_at: at(14, 2), last_at: at(14, 40), count: 37 }
const unknown = { reason: 'model_not_found', http_status: 404, first_at: at(9, 5), last_at: at(9, 7), count: 3 }

describe('refusals on an organization or key page', () => {
  it('says when a limit was reached and how many were refused since', () => {
    expect(refusalSentence(flood, now)).toBe("Key's monthly requests limit reached at 14:02 · 37 refused since")
  })

  it('counts other refusals with their status and last time', () => {
    expect(refusalSentence(unknown, now)).toBe('Unknown model (HTTP 404): 3 refused, last at 09:07')
    expect(refusalSentence({ ...unknown, count: 1 }, now)).toBe('Unknown model (HTTP 404): 1 refused at 09:07')
  })

  it('gives times of other days in the app date format, and sums counts', () => {
    const yesterday = new Date(2026, 10, 29, 23, 0, 0).toISOString()
    expect(shortTime(yesterday, now)).toBe(formatDateTime(yesterday))
    expect(totalRefused([flood, unknown])).toBe(40)
    expect(totalRefused(undefined)).toBe(0)
  })

  it('renders nothing without refusals, and a line per reason linking to the log', () => {
    const global = { plugins: [ArcoVue], stubs: { 'router-link': { props: ['to'], template: '<a :data-to="JSON.stringify(to)"><slot /></a>' } } }
    expect(mount(RefusalsNotice, { props: { refusals: [], scope: 'key', scopeId: 'k1' }, global }).html()).not.toContain('refused')
    const w = mount(RefusalsNotice, { props: { refusals: [flood, unknown], scope: 'key', scopeId: 'k1' }, global })
    expect(w.text()).toContain('40 requests refused this month')
    const link = JSON.parse(w.get('li a').attributes('data-to')!)
    expect(link).toEqual({ name: 'logs', query: { api_key_id: 'k1', status: 'refused', error_kind: 'api_key_monthly_requests_limit' } })
  })
})
