import { beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import ArcoVue from '@arco-design/web-vue'

vi.mock('@/api/endpoints', () => ({
  listData: <T>(r: { data: T[] } | T[]) => (Array.isArray(r) ? r : r.data),
  listProjections: vi.fn(async () => ({
    object: 'list',
    has_more: false,
    data: [
      {
        name: 'usage_rollups',
        position: 10,
        lag_events: 0,
        lag_seconds: 0,
        state: 'running',
        quarantined: 2,
        last_quarantine_reason: 'index row size 3064 exceeds btree version 4 maximum 2704',
      },
      { name: 'request_log', position: 10, lag_events: 0, lag_seconds: 0, state: 'running', quarantined: 0 },
    ],
  })),
  listQuarantine: vi.fn(async () => ({
    object: 'list',
    has_more: false,
    data: [
      {
        projection: 'usage_rollups',
        global_position: 7,
        aggregate_type: 'Request',
        aggregate_id: 'req-7',
        sequence: 1,
        event_type: 'RequestCompleted',
        event_version: '1.0',
        reason: '<img src=x onerror=alert(1)> cannot be read',
        quarantined_at: '2026-11-30T02:00:00Z',
      },
    ],
  })),
  rebuildProjection: vi.fn(),
}))

import ProjectionsView from '@/views/ProjectionsView.vue'
import { listQuarantine } from '@/api/endpoints'

beforeEach(() => {
  setActivePinia(createPinia())
  sessionStorage.clear()
})

describe('ProjectionsView quarantine', () => {
  it('shows the quarantined count and lists the entries of a projection as text', async () => {
    const w = mount(ProjectionsView, { global: { plugins: [ArcoVue] } })
    await flushPromises()
    const link = w.get('[data-testid="quarantine-usage_rollups"]')
    expect(link.text()).toContain('2 events')
    expect(w.find('[data-testid="quarantine-request_log"]').exists()).toBe(false)
    await link.trigger('click')
    await flushPromises()
    expect(listQuarantine).toHaveBeenCalledWith('usage_rollups', { limit: 100 })
    const panel = w.get('[data-testid="quarantine-panel"]')
    expect(panel.text()).toContain('Request/req-7#1')
    expect(panel.text()).toContain('<img src=x onerror=alert(1)> cannot be read')
    expect(panel.find('img').exists()).toBe(false)
    w.unmount()
  })
})
