import { beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import ArcoVue from '@arco-design/web-vue'

const entry = {
  id: '0193a5b0-0000-7000-8000-0000000000aa',
  created_at: '2026-11-30T02:00:00Z',
  organization_id: 'org-1',
  api_key_id: 'key-1',
  model: 'smart',
  provider: 'openai',
  prompt_tokens: 11,
  completion_tokens: 7,
  total_tokens: 18,
  cost_usd: 0.0001,
  latency_ms: 38,
  time_to_first_token_ms: null,
  status: 'success',
  http_status: 200,
  error_kind: null,
  streamed: false,
  deployment: 'smart/west',
  attempts: [
    { deployment: 'smart/east', provider: 'openai', model: 'gpt-4o-mini', http_status: 0, error_kind: 'connect_error', latency_ms: 3 },
    { deployment: 'smart/west', provider: 'openai', model: 'gpt-4o-mini', http_status: 200, error_kind: null, latency_ms: 35 },
  ],
}

vi.mock('vue-router', () => ({ useRoute: () => ({ query: { deployment: 'smart/west' } }) }))
vi.mock('@/api/endpoints', () => ({
  listLogs: vi.fn(async () => ({ object: 'list', has_more: false, data: [entry] })),
  downloadLogsCsv: vi.fn(),
  listAllOrganizations: vi.fn(async () => []),
  getOrganization: vi.fn(),
  fetchMe: vi.fn(),
  login: vi.fn(),
}))

import LogsView from '@/views/LogsView.vue'
import { listLogs } from '@/api/endpoints'

beforeEach(() => {
  setActivePinia(createPinia())
  sessionStorage.clear()
})

describe('LogsView deployments and attempts', () => {
  it('filters by the deployment in the URL, shows it, and lists the attempts of a request when expanded', async () => {
    const w = mount(LogsView, {
      global: { plugins: [ArcoVue], stubs: { 'router-link': { template: '<a><slot /></a>' } } },
    })
    await flushPromises()
    expect(listLogs).toHaveBeenCalledWith(expect.objectContaining({ deployment: 'smart/west' }))
    const table = w.get('[data-testid="logs-table"]')
    expect(table.text()).toContain('smart/west')
    expect(table.text()).toContain('2 attempts')
    await w.get('.arco-table-expand-btn').trigger('click')
    await flushPromises()
    const attempts = w.get(`[data-testid="attempts-${entry.id}"]`)
    expect(attempts.text()).toContain('2 upstream attempts')
    expect(attempts.text()).toContain('smart/east')
    expect(attempts.text()).toContain('no answer')
    expect(attempts.text()).toContain('connect_error')
    expect(attempts.text()).toContain('HTTP 200')
    w.unmount()
  })
})
