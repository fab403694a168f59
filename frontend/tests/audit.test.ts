import { describe, expect, it } from 'vitest'
import { describeEvents, describeUserAgent, displayInstant, isUnsetField, displayValue, eventCoordinates, eventTitle, fieldLabel, flatten, summarizeChanges } from '@/utils/audit'
import { formatDateTime } from '@/utils/format'
import type { HistoryEvent } from '@/api/types'

function ev(seq: number, type: string, payload: Record<string, unknown>): HistoryEvent {
  return {
    event_type: type,
    event_version: 1,
    sequence: seq,
    recorded_at: '2026-11-01T10:00:00Z',
    actor: { type: 'operator', id: 'op1', name: 'admin' },
    request_id: 'req',
    client_ip: '127.0.0.1',
    user_agent: 'curl/8.5.0',
    payload,
  }
}

describe('audit helpers', () => {
  it('flattens nested payloads', () => {
    expect(flatten({ name: 'a', limits: { monthly_requests: 5, monthly_tokens: null } })).toEqual({
      name: 'a',
      'limits.monthly_requests': 5,
      'limits.monthly_tokens': null,
    })
  })

  it('shows before → after for later changes, newest first, and hides secrets', () => {
    const out = describeEvents([
      ev(2, 'ApiKeyLimitsChanged', { limits: { monthly_requests: 100 } }),
      ev(1, 'ApiKeyIssued', { name: 'svc', secret_hash: 'abc', limits: { monthly_requests: null } }),
      ev(3, 'ApiKeyRenamed', { name: 'svc-2' }),
    ])
    expect(out.map((d) => d.event.event_type)).toEqual(['ApiKeyRenamed', 'ApiKeyLimitsChanged', 'ApiKeyIssued'])
    const renamed = out[0].changes.find((c) => c.field === 'name')!
    expect(renamed).toMatchObject({ before: 'svc', after: 'svc-2', changed: true })
    const limits = out[1].changes[0]
    expect(limits).toMatchObject({ before: null, after: 100, changed: true, label: 'Monthly requests limit' })
    const issued = out[2]
    expect(issued.title).toBe('API key issued')
    expect(issued.tone).toBe('green')
    expect(issued.changes.find((c) => c.field === 'secret_hash')?.sensitive).toBe(true)
  })

  it('names every limit in limits events, and shows nano-USD costs in dollars', () => {
    expect(fieldLabel('limits.daily_requests')).toBe('Daily requests limit')
    expect(fieldLabel('limits.weekly_cost')).toBe('Weekly cost limit (USD)')
    expect(fieldLabel('limits.requests_per_minute')).toBe('Requests / min limit')
    expect(fieldLabel('limits.models.openai/gpt-4.1.concurrent_requests')).toBe('In flight limit for openai/gpt-4.1')
    expect(fieldLabel('limits.alert_thresholds_percent')).toBe('Alert thresholds (%)')
    expect(displayValue(50_000_000_000, 'limits.monthly_cost')).toBe('$50.00')
    expect(displayValue(null, 'limits.daily_cost')).toBe('unlimited')
    expect(displayValue(1000, 'limits.daily_requests')).toBe('1,000')
  })

  it('titles unknown events from their type', () => {
    expect(eventTitle('OrganizationFrobnicated')).toBe('Organization frobnicated')
    expect(eventTitle('BudgetThresholdReached')).toBe('Budget threshold reached')
  })

  it('describes values and user agents', () => {
    expect(displayValue(null, 'limits.monthly_tokens')).toBe('unlimited')
    expect(displayValue(null, 'expires_at')).toBe('none')
    expect(describeUserAgent('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36')).toBe(
      'Chrome 131 on Linux',
    )
    expect(describeUserAgent('curl/8.5.0')).toBe('curl/8.5.0')
    expect(describeUserAgent(null)).toBe('unknown client')
  })

  it('shows money in USD, times in the app format and lists joined', () => {
    expect(displayValue(5_000_000_000, 'limits.monthly_cost')).toBe('$5.00')
    expect(displayValue(2_500_000_000, 'daily_cost')).toBe('$2.50')
    expect(displayValue(12.5, 'limits.monthly_cost_usd')).toBe('$12.50')
    expect(displayValue(null, 'limits.requests_per_minute')).toBe('unlimited')
    expect(displayValue('2026-11-30T14:02:03.123456789Z', 'expires_at')).toBe(formatDateTime('2026-11-30T14:02:03.123Z'))
    expect(displayValue('2026-11-30T14:02:03.123456789Z', 'expires_at')).not.toContain('T14')
    expect(displayInstant('2026-11-30T14:02:03Z')).toBe(formatDateTime('2026-11-30T14:02:03Z'))
    expect(displayValue([50, 90], 'limits.alert_thresholds_percent')).toBe('50, 90')
    expect(displayValue(['ApiKeyIssued', 'ApiKeyRevoked'], 'event_types')).toBe('ApiKeyIssued, ApiKeyRevoked')
    expect(displayValue(true, 'enabled')).toBe('yes')
    expect(displayValue('gr-1a2b', 'prefix')).toBe('gr-1a2b')
  })

  it('summarizes an event on one line, changed fields first, secrets never', () => {
    const [, limits, issued] = describeEvents([
      ev(1, 'ApiKeyIssued', { name: 'svc', secret_hash: 'abc', limits: { monthly_requests: null, monthly_cost: null, daily_tokens: 5 } }),
      ev(2, 'ApiKeyLimitsChanged', { limits: { monthly_requests: 40, monthly_cost: 5_000_000_000, daily_tokens: 5 } }),
      ev(3, 'ApiKeyRenamed', { name: 'svc-2' }),
    ])
    expect(summarizeChanges(limits.changes)).toBe('Monthly requests limit: unlimited → 40; Monthly cost limit (USD): unlimited → $5.00')
    // Limits set to nothing (unlimited) at issue are not news.
    expect(summarizeChanges(issued.changes, 1)).toBe('Name: svc · +1 more')
    expect(issued.changes.filter(isUnsetField).map((c) => c.field)).toEqual(['limits.monthly_requests', 'limits.monthly_cost'])
    expect(summarizeChanges(issued.changes, 9)).not.toContain('abc')
    expect(summarizeChanges([])).toBe('')
  })

  it('keeps versions and sequences for the expanded details only', () => {
    const e = { ...ev(2, 'ApiKeyLimitsChanged', {}), event_version: '1.0', position: 17 }
    expect(eventCoordinates(e)).toBe('ApiKeyLimitsChanged · version 1.0 · sequence 2 · position 17')
    expect(eventTitle('ApiKeyLimitsChanged')).toBe('Limits changed')
    expect(eventTitle('OrganizationBodyLoggingChanged')).toBe('Body logging changed')
  })
})
