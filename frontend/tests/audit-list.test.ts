import { beforeEach, describe, expect, it, vi } from 'vitest'
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import ArcoVue from '@arco-design/web-vue'

vi.mock('@/api/endpoints', () => ({ listAllOrganizations: vi.fn(async () => []), getOrganization: vi.fn(), fetchMe: vi.fn(), login: vi.fn() }))

import AuditTimeline from '@/components/AuditTimeline.vue'
import type { AuditEvent } from '@/api/types'

const KEY = '01a22a2a-7b3c-7d00-8e11-0123456789ab'
const GONE = '01a22a2a-7b3c-7d00-8e11-0000000000ff'
function ev(position: number, type: string, id: string, payload: Record<string, unknown>, subject: string | null): AuditEvent {
  return {
    event_type: type,
    event_version: '1.0',
    sequence: position,
    position,
    recorded_at: '2026-11-30T14:02:03.123456789Z',
    actor: { type: 'operator', id: 'op-1', name: 'alice' },
    request_id: 'req-1',
    client_ip: '10.0.0.7',
    user_agent: 'curl/8.5.0',
    aggregate_type: 'ApiKey',
    aggregate_id: id,
    subject_name: subject,
    payload,
  }
}

beforeEach(() => setActivePinia(createPinia()))

describe('AuditTimeline', () => {
  it('shows one line per event with sentences, names and USD, and the jargon only when expanded', async () => {
    const events = [
      ev(3, 'ApiKeyLimitsChanged', KEY, { limits: { monthly_requests: 40, monthly_cost: 5_000_000_000 } }, 'reporting-batch'),
      ev(2, 'ApiKeyIssued', GONE, { name: 'old-integration' }, null),
      ev(1, 'ApiKeyIssued', KEY, { name: 'reporting-batch', limits: { monthly_requests: null } }, 'reporting-batch'),
    ]
    const w = mount(AuditTimeline, {
      props: { events, showAggregate: true },
      global: { plugins: [ArcoVue], stubs: { 'router-link': { template: '<a><slot /></a>' } } },
    })
    const rows = w.findAll('[data-testid="audit-row"]')
    expect(rows).toHaveLength(3)
    expect(rows[0].text()).toContain('Limits changed')
    expect(rows[0].text()).toContain('reporting-batch')
    expect(rows[0].text()).toContain('Monthly requests limit: unlimited → 40')
    expect(rows[0].text()).toContain('$5.00')
    expect(rows[0].text()).toContain('alice')
    expect(rows[0].text()).not.toContain('5000000000')
    expect(rows[0].text()).not.toMatch(/T14:02|seq|v1\.0/)
    // A deleted key keeps the last name its events gave it.
    expect(rows[1].text()).toContain('old-integration')
    expect(w.find('[data-testid="audit-detail"]').exists()).toBe(false)
    await rows[0].trigger('click')
    const detail = w.get('[data-testid="audit-detail"]')
    expect(detail.text()).toContain('version 1.0 · sequence 3')
    expect(detail.text()).toContain('10.0.0.7')
  })
})
