import { beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import ArcoVue from '@arco-design/web-vue'
import type { Organization } from '@/api/types'
import { emptyLimits, type LimitsDraft } from '@/utils/limits'
import OrgFormModal from '@/components/OrgFormModal.vue'
import LimitsFields from '@/components/LimitsFields.vue'

const api = vi.hoisted(() => ({
  createOrganization: vi.fn(async (body: { name: string }) => ({ id: 'new', name: body.name })),
  updateOrganization: vi.fn(async (id: string, body: { name?: string }) => ({ id, name: body.name ?? 'Acme' })),
}))
vi.mock('@/api/endpoints', () => api)

const global = { plugins: [ArcoVue] }

const org: Organization = {
  id: 'o1',
  object: 'organization',
  name: 'Acme',
  status: 'active',
  limits: { ...emptyLimits(), daily_requests: 1000, models: { m: { requests_per_minute: 5, tokens_per_minute: null, concurrent_requests: null } } },
  created_at: '2026-11-30T00:00:00Z',
  updated_at: '2026-11-30T00:00:00Z',
  version: 1,
}

async function open(props: { org: Organization | null }) {
  const w = mount(OrgFormModal, { props: { visible: true, ...props }, global, attachTo: document.body })
  await flushPromises()
  const draft = w.findComponent(LimitsFields).props('modelValue') as LimitsDraft
  const save = async () => {
    ;(document.querySelector('.arco-modal-footer .arco-btn-primary') as HTMLButtonElement).click()
    await flushPromises()
  }
  return { w, draft, save }
}

beforeEach(() => {
  api.createOrganization.mockClear()
  api.updateOrganization.mockClear()
  document.body.innerHTML = ''
})

describe('OrgFormModal limits', () => {
  it('an edit sends only the changed limit and null for a removed model', async () => {
    const { w, draft, save } = await open({ org })
    draft.values.requests_per_minute = 120
    draft.models = []
    await save()
    expect(api.updateOrganization).toHaveBeenCalledWith('o1', { limits: { requests_per_minute: 120, models: { m: null } } })
    w.unmount()
  })

  it('an unchanged form sends nothing', async () => {
    const { w, save } = await open({ org })
    await save()
    expect(api.updateOrganization).not.toHaveBeenCalled()
    expect(w.emitted('saved')).toHaveLength(1)
    w.unmount()
  })

  it('a create sends the full limits object', async () => {
    const { w, draft, save } = await open({ org: null })
    ;(document.querySelector('[data-testid="org-name"] input') as HTMLInputElement).value = 'New'
    document.querySelector('[data-testid="org-name"] input')!.dispatchEvent(new Event('input'))
    draft.values.daily_requests = 10
    await save()
    const sent = api.createOrganization.mock.calls[0][0] as unknown as { limits: Record<string, unknown> }
    expect(sent.limits.daily_requests).toBe(10)
    expect(Object.keys(sent.limits)).toHaveLength(17)
    w.unmount()
  })

  it('a bad limit is reported in the form, not sent', async () => {
    const { w, draft, save } = await open({ org })
    draft.thresholds = ['80', '200']
    await save()
    expect(api.updateOrganization).not.toHaveBeenCalled()
    expect(document.querySelector('[data-testid="form-error"]')?.textContent).toMatch(/1 to 100/)
    w.unmount()
  })
})
