import { describe, expect, it } from 'vitest'
import {
  finishedAt,
  httpStatusColor,
  httpStatusText,
  ingressLabel,
  reasonLabel,
  requestCount,
  statusColor,
  statusLabel,
  statusOf,
  tally,
  tokenLines,
} from '@/utils/logs'

describe('request log status', () => {
  it('reads the status defensively and labels folded refusals ×N', () => {
    expect(statusOf({ status: 'refused' })).toBe('refused')
    expect(statusOf({ status: 'weird' as never })).toBe('success')
    expect(statusLabel({ status: 'refused', refused_count: 37 })).toBe('Refused ×37')
    expect(statusLabel({ status: 'refused', refused_count: 1 })).toBe('Refused')
    expect(statusLabel({ status: 'refused' })).toBe('Refused')
    expect(statusLabel({ status: 'error' })).toBe('Error')
    expect(statusColor('refused')).toBe('orange')
    expect(statusColor('error')).toBe('red')
  })

  it('sums refused_count instead of counting rows', () => {
    const rows = [
      { status: 'success' as const },
      { status: 'refused' as const, refused_count: 37 },
      { status: 'refused' as const, refused_count: 1 },
      { status: 'error' as const, refused_count: 9 },
    ]
    expect(tally(rows)).toEqual({ success: 1, error: 1, refused: 38 })
    expect(requestCount({ status: 'error', refused_count: 5 })).toBe(1)
  })

  it('names HTTP statuses and colours them', () => {
    expect(httpStatusText(429)).toBe('429 Too Many Requests')
    expect(httpStatusText(0)).toBe('no answer')
    expect(httpStatusText(418)).toBe('418')
    expect(httpStatusColor(200)).toBe('green')
    expect(httpStatusColor(429)).toBe('orange')
    expect(httpStatusColor(404)).toBe('gold')
    expect(httpStatusColor(503)).toBe('red')
    expect(httpStatusColor(0)).toBe('gray')
  })
})

describe('request log reasons', () => {
  it('reads limit codes as sentences', () => {
    expect(reasonLabel('api_key_monthly_requests_limit')).toBe("Key's monthly requests limit")
    expect(reasonLabel('organization_requests_per_minute_limit')).toBe("Organization's requests per minute limit")
    expect(reasonLabel('api_key_model_concurrent_requests_limit')).toBe("Key's per-model requests in flight limit")
    expect(reasonLabel('organization_daily_cost_limit')).toBe("Organization's daily cost limit")
  })

  it('names the other refusals and upstream errors, and falls back to the code in words', () => {
    expect(reasonLabel('model_not_found')).toBe('Unknown model')
    expect(reasonLabel('api_key_revoked')).toBe('Key revoked')
    expect(reasonLabel('organization_suspended')).toBe('Organization suspended')
    expect(reasonLabel('no_available_deployment')).toBe('No deployment available')
    expect(reasonLabel('upstream_timeout')).toBe('Provider timed out')
    expect(reasonLabel('something_new_here')).toBe('Something new here')
    expect(reasonLabel(null)).toBe('')
  })
})

describe('request details', () => {
  it('finishes at finished_at, else start plus latency', () => {
    expect(finishedAt({ created_at: '2026-11-30T10:00:00Z', latency_ms: 1500, finished_at: '2026-11-30T10:00:09Z' })).toBe('2026-11-30T10:00:09Z')
    expect(finishedAt({ created_at: '2026-11-30T10:00:00.000Z', latency_ms: 1500 })).toBe('2026-11-30T10:00:01.500Z')
  })

  it('lists every token figure, missing ones as 0', () => {
    const lines = tokenLines({ prompt_tokens: 1200, cached_tokens: 800, completion_tokens: 300, total_tokens: 1500 })
    expect(lines.map((l) => [l.label, l.value])).toEqual([
      ['Prompt', 1200],
      ['Read from cache', 800],
      ['Written to cache', 0],
      ['Completion', 300],
      ['Reasoning', 0],
      ['Total', 1500],
    ])
    expect(ingressLabel('messages')).toBe('Anthropic messages')
    expect(ingressLabel(undefined)).toBe('OpenAI chat completions')
  })
})
