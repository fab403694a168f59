import { describe, expect, it } from 'vitest'
import { OTHER_COLOR, SERIES_PALETTE, hashKey, seriesColor, seriesColors } from '@/utils/colors'
import { errorRateTone, refusedTone, thresholdStatus } from '@/utils/thresholds'
import { budgetStatus } from '@/utils/limits'
import { bucketKey, bucketKeys, bucketLabel, customRange, hoursBetween, presetRange } from '@/utils/ranges'
import { chunkDays, fillBuckets, mergeStats, refusedItems, seriesValues, spenders, sumRows } from '@/utils/stats'
import type { StatsResponse, StatsRow } from '@/api/types'

describe('series colours', () => {
  it('gives one key the same colour every time, from the palette', () => {
    expect(seriesColor('gpt-4o')).toBe(seriesColor('gpt-4o'))
    expect(SERIES_PALETTE).toContain(seriesColor('gpt-4o'))
    expect(hashKey('a')).not.toBe(hashKey('b'))
    expect(seriesColor('other')).toBe(OTHER_COLOR)
  })
  it('gives keys drawn together distinct colours, whatever their order', () => {
    const keys = Array.from({ length: 12 }, (_, i) => `model-${i}`)
    const a = seriesColors(keys)
    const b = seriesColors([...keys].reverse())
    expect(a).toEqual(b)
    expect(new Set(Object.values(a)).size).toBe(12)
  })
  it('keeps a key its own hashed colour when nothing collides', () => {
    const c = seriesColors(['echo/test', 'other'])
    expect(c['echo/test']).toBe(seriesColor('echo/test'))
    expect(c.other).toBe(OTHER_COLOR)
  })
})

describe('thresholds', () => {
  it('one set everywhere: amber from 80 %, red from 100 %', () => {
    expect(thresholdStatus(79.9)).toBe('normal')
    expect(thresholdStatus(80)).toBe('warning')
    expect(thresholdStatus(100)).toBe('danger')
    expect(thresholdStatus(null)).toBe('normal')
    expect(budgetStatus(85)).toBe('warning')
  })
  it('tones error rates and refusals', () => {
    expect(errorRateTone(0)).toBe('good')
    expect(errorRateTone(0.01)).toBe('warn')
    expect(errorRateTone(0.05)).toBe('bad')
    expect(refusedTone(0, 10)).toBe('good')
    expect(refusedTone(1, 99)).toBe('warn')
    expect(refusedTone(10, 10)).toBe('bad')
  })
})

describe('ranges and buckets', () => {
  const now = new Date(Date.UTC(2026, 10, 30, 14, 25))
  it('draws 24 h and 48 h in hours over yesterday and today (UTC)', () => {
    const r = presetRange('24h', now)
    expect(r).toMatchObject({ from: '2026-11-29', to: '2026-11-30', bucket: 'hour', hours: 24 })
    const keys = bucketKeys(r, now)
    expect(keys).toHaveLength(24)
    expect(keys[23]).toBe('2026-11-30T14:00:00Z')
    expect(keys[0]).toBe('2026-11-29T15:00:00Z')
    const r48 = presetRange('48h', now)
    expect(r48).toMatchObject({ from: '2026-11-28', to: '2026-11-30', bucket: 'hour', hours: 48 })
    const k48 = bucketKeys(r48, now)
    expect(k48).toHaveLength(48)
    expect(k48[0]).toBe('2026-11-28T15:00:00Z')
    // Just before midnight UTC the last 24 hours are all today.
    expect(presetRange('24h', new Date(Date.UTC(2026, 10, 30, 23, 30)))).toMatchObject({ from: '2026-11-30', to: '2026-11-30' })
  })
  it('draws 7, 30 and 90 days in days', () => {
    const r = presetRange('7d', now)
    expect(r).toMatchObject({ from: '2026-11-24', to: '2026-11-30', bucket: 'day' })
    expect(bucketKeys(r, now)).toHaveLength(7)
    expect(bucketKeys(presetRange('90d', now), now)).toHaveLength(90)
  })
  it('draws custom ranges of up to two days in hours', () => {
    expect(customRange('2026-11-30', '2026-11-29')).toMatchObject({ from: '2026-11-29', to: '2026-11-30', bucket: 'hour' })
    expect(customRange('2026-11-28', '2026-11-30').bucket).toBe('day')
    expect(hoursBetween('2026-11-30', '2026-11-30')).toHaveLength(24)
  })
  it('normalizes bucket keys and labels them', () => {
    expect(bucketKey('2026-11-30T14:00:00+00:00', 'hour')).toBe('2026-11-30T14:00:00Z')
    expect(bucketKey('2026-11-30T00:00:00Z', 'day')).toBe('2026-11-30')
    expect(bucketLabel('2026-11-03', 'day')).toBe('Nov 3')
    expect(bucketLabel('2026-11-30T14:00:00Z', 'hour')).toMatch(/^(\w{3} \d+ )?\d\d:00$/)
  })
})

const row = (key: string, o: Partial<StatsRow> = {}): StatsRow => ({
  key,
  label: key,
  requests: 0,
  successes: 0,
  errors: 0,
  prompt_tokens: 0,
  completion_tokens: 0,
  total_tokens: 0,
  cost_usd: 0,
  latency_ms: { avg: 0, min: 0, max: 0, p50: 0, p95: 0, p99: 0 },
  error_rate: 0,
  success_rate: 0,
  ...o,
})

describe('stats helpers', () => {
  it('zero-fills hourly buckets', () => {
    const keys = ['2026-11-30T13:00:00Z', '2026-11-30T14:00:00Z']
    const rows = fillBuckets(keys, [row('2026-11-30T14:00:00Z', { requests: 3, refused: 2 })], 'hour')
    expect(rows.map((r) => r.requests)).toEqual([0, 3])
    expect(rows.map((r) => r.refused)).toEqual([0, 2])
  })
  it('sums buckets, refusals apart from requests', () => {
    const t = sumRows([row('a', { requests: 4, errors: 1, refused: 3, cost_usd: 0.5 }), row('b', { requests: 6, errors: 0, cost_usd: 1 })])
    expect(t).toMatchObject({ requests: 10, errors: 1, refused: 3, cost_usd: 1.5, error_rate: 0.1 })
  })
  it('reads split series per bucket', () => {
    const s = { key: 'm', label: 'm', data: [{ key: '2026-11-30', requests: 2, refused: 0, errors: 0, cost_usd: 0.25, total_tokens: 10 }] }
    expect(seriesValues(s, ['2026-11-29', '2026-11-30'], 'day', 'cost_usd')).toEqual([0, 0.25])
  })
  it('ranks spenders with their share, searchable by name or id', () => {
    const rows = [row('k1', { label: 'alpha', cost_usd: 1, requests: 5 }), row('k2', { label: 'beta', cost_usd: 3, requests: 1 })]
    const s = spenders(rows)
    expect(s.map((x) => x.label)).toEqual(['beta', 'alpha'])
    expect(s[0].share).toBe(0.75)
    expect(spenders(rows, 'ALP').map((x) => x.key)).toEqual(['k1'])
    expect(spenders(rows, 'k2').map((x) => x.key)).toEqual(['k2'])
    // Nothing cost anything: shares of requests.
    expect(spenders([row('a', { requests: 1 }), row('b', { requests: 3 })])[0].share).toBe(0.75)
  })
  it('lists refusals by reason, largest first', () => {
    expect(refusedItems({ a: 1, b: 5, c: 0 }, (c) => c.toUpperCase())).toEqual([
      { key: 'b', name: 'B', value: 5 },
      { key: 'a', name: 'A', value: 1 },
    ])
  })
})

describe('hourly ranges over three days', () => {
  it('asks in chunks of at most two days', () => {
    expect(chunkDays('2026-11-28', '2026-11-30', 2)).toEqual([
      ['2026-11-28', '2026-11-29'],
      ['2026-11-30', '2026-11-30'],
    ])
    expect(chunkDays('2026-11-30', '2026-11-30', 2)).toEqual([['2026-11-30', '2026-11-30']])
  })
  it('merges the answers: buckets, series and refusals', () => {
    const part = (from: string, to: string, hour: string, n: number): StatsResponse => ({
      object: 'stats',
      from,
      to,
      group_by: 'hour',
      summary: { ...row('s'), requests: n, latency_ms: { avg: n, min: 0, max: 0, p50: n, p95: n, p99: n } },
      data: [row(hour, { requests: n, refused: 1, cost_usd: n / 10 })],
      refused_by_reason: { model_not_found: 1 },
      series: [{ key: 'm', label: 'm', data: [{ key: hour, requests: n, refused: 1, errors: 0, cost_usd: n / 10, total_tokens: 0 }] }],
    })
    const m = mergeStats([part('2026-11-28', '2026-11-29', '2026-11-29T10:00:00Z', 2), part('2026-11-30', '2026-11-30', '2026-11-30T10:00:00Z', 3)])
    expect(m.from).toBe('2026-11-28')
    expect(m.to).toBe('2026-11-30')
    expect(m.data.map((r) => r.key)).toEqual(['2026-11-29T10:00:00Z', '2026-11-30T10:00:00Z'])
    expect(m.summary).toMatchObject({ requests: 5, refused: 2 })
    expect(m.summary.latency_ms.p50).toBe(3)
    expect(m.refused_by_reason).toEqual({ model_not_found: 2 })
    expect(m.series?.[0].data).toHaveLength(2)
  })
})
