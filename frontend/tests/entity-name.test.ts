import { describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import ArcoVue from '@arco-design/web-vue'
import EntityName from '@/components/EntityName.vue'

const ID = '01a22a2a-7b3c-7d00-8e11-0123456789ab'
const global = { plugins: [ArcoVue], stubs: { 'router-link': { props: ['to'], template: '<a class="link"><slot /></a>' } } }

describe('EntityName', () => {
  it('shows the name as a link, keeps the id for hover and copies it', async () => {
    const writeText = vi.fn(async () => {})
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true })
    const w = mount(EntityName, { props: { name: 'reporting-batch', id: ID, kind: 'api_key', to: { name: 'api-key', params: { id: ID } } }, global })
    expect(w.get('.link').text()).toBe('reporting-batch')
    expect(w.attributes('data-entity-id')).toBe(ID)
    await w.get('[data-testid="copy-id"]').trigger('click')
    await flushPromises()
    expect(writeText).toHaveBeenCalledWith(ID)
  })

  it('says "deleted key · 01a2…" when the name is unknown, never a bare prefix', () => {
    const w = mount(EntityName, { props: { name: null, id: ID, kind: 'api_key' }, global })
    expect(w.text()).toBe('deleted key · 01a2…')
    expect(w.find('.unknown').exists()).toBe(true)
  })
})
