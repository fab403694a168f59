import { beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import ArcoVue from '@arco-design/web-vue'

const entry = {
  id: '0193a5b0-0000-7000-8000-0000000000aa',
  created_at: '2026-11-30T02:00:00Z',
  organization_id: '0193a5b0-0000-7000-8000-0000000000o1',
  organization_name: 'Acme',
  api_key_id: '0193a5b0-0000-7000-8000-0000000000k1',
  api_key_name: 'reporting-batch',
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
  usage_estimated: true,
  deployment: 'smart/west',
  attempts: [
    { deployment: 'smart/east', provider: 'openai', model: 'gpt-4o-mini', http_status: 0, error_kind: 'connect_error', latency_ms: 3 },
    { deployment: 'smart/west', provider: 'openai', model: 'gpt-4o-mini', http_status: 200, error_kind: null, latency_ms: 35 },
  ],
}
const refused = {
  ...entry,
  id: '0193a5b0-0000-7000-8000-0000000000bb',
  api_key_id: '0193a5b0-0000-7000-8000-0000000000k2',
  api_key_name: null,
  provider: '',
  deployment: '',
  prompt_tokens: 0,
  completion_tokens: 0,
  total_tokens: 0,
  cost_usd: 0,
  latency_ms: 0,
  status: 'refused',
  http_status: 429,
  error_kind: 'api_key_monthly_requests_limit',
  error_message: 'monthly limit reached',
  refused_count: 37,
  attempts: [],
}

const replace = vi.fn()
const routeState = vi.hoisted(() => ({ query: {} as Record<string, string> }))
vi.mock('vue-router', () => ({ useRoute: () => ({ query: routeState.query }), useRouter: () => ({ replace }) }))
vi.mock('@/api/endpoints', () => ({
  listLogs: vi.fn(async () => ({ object: 'list', has_more: false, data: [entry, refused] })),
  getLog: vi.fn(async (id: string) => ({ ...refused, id, error_message: 'fetched by id' })),
  downloadLogsCsv: vi.fn(),
  listAllApiKeys: vi.fn(async () => []),
  listAllOrganizations: vi.fn(async () => []),
  getOrganization: vi.fn(),
  fetchMe: vi.fn(),
  login: vi.fn(),
}))

import LogsView from '@/views/LogsView.vue'
import { getLog, listLogs } from '@/api/endpoints'

beforeEach(() => {
  setActivePinia(createPinia())
  sessionStorage.clear()
})

describe('LogsView', () => {
  it('filters by the URL, shows names, statuses and reasons, and opens a request in the drawer', async () => {
    routeState.query = { deployment: 'smart/west' }
    const w = mount(LogsView, {
      attachTo: document.body,
      global: { plugins: [ArcoVue], stubs: { 'router-link': { template: '<a><slot /></a>' } } },
    })
    await flushPromises()
    expect(listLogs).toHaveBeenCalledWith(expect.objectContaining({ deployment: 'smart/west' }))
    const table = w.get('[data-testid="logs-table"]')
    expect(table.text()).toContain('smart/west')
    expect(table.text()).toContain('2 attempts')
    expect(table.text()).toContain('Acme')
    expect(table.text()).toContain('reporting-batch')
    expect(table.text()).toContain('deleted key · 0193…')
    expect(table.text()).toContain('Refused ×37')
    expect(table.text()).toContain("Key's monthly requests limit")
    expect(w.get('[data-testid="logs-totals"]').text()).toContain('37 refused')
    await w.findAll('.log-row')[0].trigger('click')
    await flushPromises()
    expect(replace).toHaveBeenCalledWith({ query: expect.objectContaining({ request: entry.id }) })
    const drawer = document.querySelector('[data-testid="request-drawer"]')!
    expect(drawer.textContent).toContain('smart/east')
    expect(drawer.textContent).toContain('no answer')
    expect(drawer.textContent).toContain('Could not reach the provider')
    expect(drawer.textContent).toContain('HTTP 200')
    expect(drawer.querySelector('[data-testid="drawer-usage-estimated"]')?.textContent).toContain('Estimated by GaiaRouter')
    w.unmount()
  })

  it('opens a request linked by /logs?request=<id> even when the list does not hold it', async () => {
    routeState.query = { request: 'linked-id' }
    const w = mount(LogsView, {
      attachTo: document.body,
      global: { plugins: [ArcoVue], stubs: { 'router-link': { template: '<a><slot /></a>' } } },
    })
    await flushPromises()
    expect(getLog).toHaveBeenCalledWith('linked-id')
    const drawer = document.querySelector('[data-testid="request-drawer"]')!
    expect(drawer.textContent).toContain('fetched by id')
    expect(drawer.textContent).toContain('Refused ×37')
    w.unmount()
  })
})
