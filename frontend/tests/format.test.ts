import { describe, expect, it } from 'vitest'
import {
  formatCompact,
  formatCost,
  formatCount,
  formatCountTick,
  formatCostTick,
  formatExact,
  formatDuration,
  formatInt,
  formatMs,
  formatPercent,
  formatTokens,
  shortId,
  usageRatio,
} from '@/utils/format'
import { daysBetween, endOfDayIso, lastDays, toYmd } from '@/utils/dates'
import { fillDays, topN } from '@/utils/stats'
import { modelPricing, usageCost } from '@/utils/pricing'
import type { StatsRow } from '@/api/types'

describe('cost', () => {
  it('has one rule: 2 decimals from $1, 4 significant digits below', () => {
    expect(formatCost(0)).toBe('$0.00')
    expect(formatCost(12.5)).toBe('$12.50')
    expect(formatCost(12345.678)).toBe('$12,345.68')
    expect(formatCost(1)).toBe('$1.00')
    expect(formatCost(0.023)).toBe('$0.02300')
    expect(formatCost(0.0551)).toBe('$0.05510')
    expect(formatCost(0.5)).toBe('$0.5000')
    expect(formatCost(0.000042)).toBe('$0.00004200')
    expect(formatCost(0.99999)).toBe('$1.00')
    expect(formatCost(1e-10)).toBe('<$0.00000001')
    expect(formatCost(-2)).toBe('-$2.00')
    expect(formatCost(-0.0123)).toBe('-$0.01230')
    expect(formatCost(null)).toBe('—')
    expect(formatCost('3')).toBe('$3.00')
  })
})

describe('money on chart axes', () => {
  it('drops trailing zeros, keeps two decimals', () => {
    expect(formatCostTick(0.000007)).toBe('$0.000007')
    expect(formatCostTick(0.05)).toBe('$0.05')
    expect(formatCostTick(12.5)).toBe('$12.50')
    expect(formatCostTick(0)).toBe('$0.00')
    expect(formatCostTick(1234)).toBe('$1,234.00')
  })
})

describe('counts', () => {
  it('has one rule: exact below 10,000, compact from it', () => {
    for (const f of [formatCount, formatInt, formatCompact, formatTokens]) {
      expect(f(3912)).toBe('3,912')
      expect(f(9_999)).toBe('9,999')
      expect(f(10_000)).toBe('10K')
      expect(f(61_800)).toBe('61.8K')
      expect(f(250_000)).toBe('250K')
      expect(f(4_200_000)).toBe('4.2M')
      expect(f(950)).toBe('950')
      expect(f(undefined)).toBe('—')
    }
    expect(formatExact(1234567)).toBe('1,234,567')
  })
})

describe('percentages', () => {
  it('formats rates 0..1', () => {
    expect(formatPercent(0)).toBe('0%')
    expect(formatPercent(1)).toBe('100%')
    expect(formatPercent(0.1234)).toBe('12.3%')
    expect(formatPercent(0.5)).toBe('50%')
    expect(formatPercent(0.0004)).toBe('0.04%')
    expect(formatPercent(null)).toBe('—')
  })
})

describe('durations', () => {
  it('formats milliseconds and seconds', () => {
    expect(formatMs(850)).toBe('850 ms')
    expect(formatMs(1530)).toBe('1.53 s')
    expect(formatMs(65_000)).toBe('1m 5s')
    expect(formatDuration(0)).toBe('0 s')
    expect(formatDuration(75)).toBe('1m 15s')
    expect(formatDuration(7200)).toBe('2h 0m')
  })
})

describe('misc', () => {
  it('usage ratio and short ids', () => {
    expect(usageRatio(50, 100)).toBe(0.5)
    expect(usageRatio(5, null)).toBeNull()
    expect(usageRatio(1, 0)).toBe(1)
    expect(shortId('0190a3b2-1111-7000-8000-000000000000')).toBe('0190a3b2')
  })
})

describe('dates', () => {
  it('builds ranges', () => {
    const today = new Date(2026, 10, 23)
    expect(lastDays(30, today)).toEqual(['2026-10-25', '2026-11-23'])
    expect(daysBetween('2026-02-27', '2026-03-02')).toEqual(['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02'])
    expect(toYmd(new Date(2026, 0, 5))).toBe('2026-01-05')
    expect(new Date(endOfDayIso('2026-01-05')).getDate()).toBe(5)
  })
})

function row(key: string, requests: number, cost = 0): StatsRow {
  return {
    key,
    label: key,
    requests,
    successes: requests,
    errors: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    total_tokens: requests * 10,
    cost_usd: cost,
    latency_ms: { avg: 0, min: 0, max: 0, p50: 0, p95: 0, p99: 0 },
    error_rate: 0,
    success_rate: 1,
  }
}

describe('stats helpers', () => {
  it('zero-fills missing days', () => {
    const filled = fillDays('2026-11-01', '2026-11-03', [row('2026-11-02', 5)])
    expect(filled.map((r) => [r.key, r.requests])).toEqual([
      ['2026-11-01', 0],
      ['2026-11-02', 5],
      ['2026-11-03', 0],
    ])
  })
  it('groups the tail into Other', () => {
    const out = topN([row('a', 1), row('b', 5), row('c', 3), row('d', 2)], 3, 'requests')
    expect(out.map((r) => r.key)).toEqual(['b', 'c', '__other__'])
    expect(out[2].requests).toBe(3)
  })
})

describe('pricing', () => {
  it('reads per-million and per-token shapes and prefers a server cost', () => {
    const m = { id: 'x', object: 'model' as const, created: 0, owned_by: 'x' }
    expect(modelPricing({ ...m, pricing: { input_per_million: 2.5, output_per_million: 10 } })).toEqual({
      inputPerMillion: 2.5,
      outputPerMillion: 10,
    })
    const p = modelPricing({ ...m, pricing: { prompt: '0.000001', completion: '0.000002' } })
    expect(p?.inputPerMillion).toBeCloseTo(1)
    expect(modelPricing(m)).toBeNull()
    const usage = { prompt_tokens: 1_000_000, completion_tokens: 500_000, total_tokens: 1_500_000 }
    expect(usageCost(usage, { inputPerMillion: 2, outputPerMillion: 4 })).toBe(4)
    expect(usageCost({ ...usage, cost_usd: 0.5 }, null)).toBe(0.5)
    expect(usageCost(usage, null)).toBeNull()
  })
})

describe('formatCountTick', () => {
  it('writes axis ticks compact from a thousand on, so neighbours never run together', () => {
    expect([0, 500, 1000, 1500, 2000, 25_000, 3_000_000].map(formatCountTick)).toEqual([
      '0',
      '500',
      '1K',
      '1.5K',
      '2K',
      '25K',
      '3M',
    ])
  })
  it('gives no label to what is not a number', () => {
    expect(formatCountTick(undefined)).toBe('')
    expect(formatCountTick('x')).toBe('')
  })
})
