import { describe, expect, it, vi } from 'vitest'
import { mount } from '@vue/test-utils'
import ArcoVue from '@arco-design/web-vue'

vi.mock('@/utils/clipboard', () => ({ copyText: vi.fn(async () => {}) }))

import RequestBodies from '@/components/RequestBodies.vue'
import { copyText } from '@/utils/clipboard'
import type { RequestLogEntry } from '@/api/types'

const entry = {
  id: '0193a5b0-0000-7000-8000-0000000000aa',
  streamed: true,
  status: 'success',
} as RequestLogEntry

function shown(e: Partial<RequestLogEntry>) {
  return mount(RequestBodies, { props: { entry: { ...entry, ...e } }, global: { plugins: [ArcoVue] } })
}

describe('RequestBodies', () => {
  it('shows the request pretty-printed and a stream event by event, each copyable as stored', async () => {
    const request = '{"model":"echo/demo","stream":true}'
    const w = shown({
      request_body: request,
      request_body_truncated: false,
      response_body: 'data: {"id":"c1"}\n\ndata: [DONE]\n\n',
      response_body_truncated: true,
    })
    const req = w.get('[data-testid="drawer-request-body"]')
    expect(req.text()).toContain('"model": "echo/demo"')
    expect(req.text()).toContain('JSON · 35 B')
    const res = w.get('[data-testid="drawer-response-body"]')
    expect(res.text()).toContain('Response (stream as sent)')
    expect(res.text()).toContain('2 events')
    expect(res.text()).toContain('truncated at the size limit')
    expect(w.find('[data-testid="drawer-bodies-hint"]').exists()).toBe(false)
    await req.get('button').trigger('click')
    expect(copyText).toHaveBeenCalledWith(request)
  })

  it('tells how to turn body logging on when none were stored', () => {
    const w = shown({})
    expect(w.get('[data-testid="drawer-bodies-hint"]').text()).toContain('log_bodies')
    expect(w.find('[data-testid="drawer-request-body"]').exists()).toBe(false)
  })
})
