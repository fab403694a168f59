import { describe, expect, it } from 'vitest'
import {
  attemptSummary,
  canCreateGlobal,
  canManageWebhooks,
  deliveryTone,
  emptyWebhookForm,
  eventTypeOptions,
  webhookFormProblem,
  webhookFormToBody,
  webhookToForm,
} from '@/utils/webhooks'
import type { Me, WebhookEndpoint } from '@/api/types'
import { eventTitle, eventTone } from '@/utils/audit'

const operator: Me = { kind: 'operator', id: 'op', name: 'admin', permission: 'admin', organization_id: null }
const adminKey: Me = { kind: 'api_key', id: 'k', name: 'ci', permission: 'admin', organization_id: 'org-a' }
const writeKey: Me = { kind: 'api_key', id: 'w', name: 'w', permission: 'write', organization_id: 'org-a' }

const endpoint: WebhookEndpoint = {
  id: 'wh-1',
  object: 'webhook_endpoint',
  organization_id: 'org-a',
  url: 'https://hooks.example.com/x',
  description: 'alerts',
  event_types: ['ApiKeyIssued', 'BudgetThresholdReached'],
  enabled: true,
  created_at: '',
  updated_at: '',
  version: 1,
}

describe('webhook permissions', () => {
  it('operators and admin keys manage webhooks; only operators make gateway-wide ones', () => {
    expect([operator, adminKey, writeKey, null].map(canManageWebhooks)).toEqual([true, true, false, false])
    expect([operator, adminKey].map(canCreateGlobal)).toEqual([true, false])
  })

  it('organization endpoints cannot subscribe to gateway-wide events', () => {
    expect(eventTypeOptions(true)).toContain('RouteCreated')
    expect(eventTypeOptions(false)).not.toContain('DeploymentCooledDown')
    expect(eventTypeOptions(false)).toContain('BudgetThresholdReached')
  })
})

describe('webhook form', () => {
  it('refuses what the server would refuse', () => {
    const form = (change: Partial<ReturnType<typeof emptyWebhookForm>>) => ({ ...emptyWebhookForm('org-a'), ...change })
    expect(webhookFormProblem(form({ url: '' }))).toMatch(/Enter the URL/)
    expect(webhookFormProblem(form({ url: 'ftp://x.example' }))).toMatch(/http/)
    expect(webhookFormProblem(form({ url: 'https://u:p@x.example/' }))).toMatch(/user name/)
    expect(webhookFormProblem(form({ url: 'not a url' }))).toMatch(/valid/)
    expect(webhookFormProblem(form({ url: `https://x.example/${'a'.repeat(2048)}` }))).toMatch(/2048/)
    expect(webhookFormProblem(form({ url: 'https://x.example/', event_types: [] }))).toMatch(/at least one/)
    expect(webhookFormProblem(form({ url: 'https://x.example/', event_types: ['RouteCreated'] }))).toMatch(/gateway-wide/)
    expect(webhookFormProblem(form({ url: 'https://x.example/', event_types: ['RouteCreated'], organization_id: '' }))).toBe(null)
    expect(webhookFormProblem(form({ url: 'http://127.0.0.1:9000/hook' }))).toBe(null)
  })

  it('creates with every field and patches only what changed', () => {
    const created = webhookFormToBody({ ...emptyWebhookForm(''), url: ' https://x.example/ ', description: '  ' })
    expect(created).toEqual({
      url: 'https://x.example/',
      description: null,
      event_types: ['BudgetThresholdReached'],
      enabled: true,
      organization_id: null,
    })
    const form = webhookToForm(endpoint)
    expect(webhookFormToBody(form, endpoint)).toEqual({})
    form.enabled = false
    form.event_types = ['BudgetThresholdReached', 'ApiKeyIssued']
    expect(webhookFormToBody(form, endpoint)).toEqual({ enabled: false })
    form.description = ''
    form.event_types = ['ApiKeyRevoked']
    expect(webhookFormToBody(form, endpoint)).toEqual({ enabled: false, description: null, event_types: ['ApiKeyRevoked'] })
  })
})

describe('deliveries', () => {
  it('read at a glance', () => {
    expect(deliveryTone('delivered')).toBe('green')
    expect(deliveryTone('pending')).toBe('orangered')
    expect(deliveryTone('failed')).toBe('red')
    expect(attemptSummary({ attempt: 1, attempted_at: '', status_code: 204, latency_ms: 35, error: null })).toBe('204 · 35 ms')
    expect(
      attemptSummary({ attempt: 2, attempted_at: '', status_code: null, latency_ms: 2, error: 'connection failed' }),
    ).toBe('connection failed · 2 ms')
  })
})

describe('webhook events in the audit trail', () => {
  it('have titles and tones', () => {
    expect(eventTitle('WebhookEndpointCreated')).toBe('Webhook created')
    expect(eventTone('WebhookEndpointSecretRotated')).toBe('purple')
    expect(eventTone('WebhookEndpointDeleted')).toBe('red')
  })
})
