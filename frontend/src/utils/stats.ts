// Helpers for the stats API answers.
import type { StatsResponse, StatsRow, StatsSeries, StatsSummary } from '@/api/types'
import { daysBetween } from './dates'
import { bucketKey, type Bucket } from './ranges'

export function emptySummary(): StatsSummary {
  return {
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
  }
}

/** Normalizes a day key ("2026-11-03" or "2026-11-03T00:00:00Z") to YYYY-MM-DD. */
export function dayKey(key: string): string {
  return key.slice(0, 10)
}

/** One row per day of the range, zero-filled where the server had no data. */
export function fillDays(from: string, to: string, rows: StatsRow[]): StatsRow[] {
  const byDay = new Map(rows.map((r) => [dayKey(r.key), r]))
  return daysBetween(from, to).map(
    (day) => byDay.get(day) ?? { ...emptySummary(), key: day, label: day },
  )
}

/** Top N rows by a metric, the rest summed into "Other". */
export function topN(rows: StatsRow[], n: number, metric: 'requests' | 'total_tokens' | 'cost_usd'): StatsRow[] {
  const sorted = [...rows].sort((a, b) => (b[metric] ?? 0) - (a[metric] ?? 0))
  if (sorted.length <= n) return sorted
  const head = sorted.slice(0, n - 1)
  const rest = sorted.slice(n - 1)
  const other: StatsRow = { ...emptySummary(), key: '__other__', label: `Other (${rest.length})` }
  for (const r of rest) {
    other.requests += r.requests
    other.errors += r.errors
    other.successes += r.successes
    other.total_tokens += r.total_tokens
    other.prompt_tokens += r.prompt_tokens
    other.completion_tokens += r.completion_tokens
    other.cost_usd += r.cost_usd
  }
  other.error_rate = other.requests ? other.errors / other.requests : 0
  other.success_rate = other.requests ? other.successes / other.requests : 0
  return [...head, other]
}

/** Label for a breakdown row: the server's label, else the key. */
export function rowLabel(r: StatsRow): string {
  return r.label || r.key || '(none)'
}

/** Refused requests of a row or summary (older servers omit the field). */
export function refusedOf(r: Partial<StatsSummary> | null | undefined): number {
  return r?.refused ?? 0
}

/** One row per bucket key (days or hours), zero-filled where the server had no data. */
export function fillBuckets(keys: string[], rows: StatsRow[], bucket: Bucket): StatsRow[] {
  const byKey = new Map(rows.map((r) => [bucketKey(r.key, bucket), r]))
  return keys.map((k) => byKey.get(k) ?? { ...emptySummary(), refused: 0, key: k, label: k })
}

/** Totals of the counts of some buckets (for a window shorter than what was fetched). */
export function sumRows(rows: StatsRow[]): Omit<StatsSummary, 'latency_ms'> {
  const t = { requests: 0, successes: 0, errors: 0, refused: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0 }
  for (const r of rows) {
    t.requests += r.requests ?? 0
    t.successes += r.successes ?? 0
    t.errors += r.errors ?? 0
    t.refused += refusedOf(r)
    t.prompt_tokens += r.prompt_tokens ?? 0
    t.completion_tokens += r.completion_tokens ?? 0
    t.total_tokens += r.total_tokens ?? 0
    t.cost_usd += r.cost_usd ?? 0
  }
  return {
    ...t,
    error_rate: t.requests ? t.errors / t.requests : 0,
    success_rate: t.requests ? t.successes / t.requests : 0,
  }
}

export type SpendMetric = 'cost_usd' | 'requests' | 'total_tokens'

/** A split series as chart data: one value per bucket key (missing buckets are 0). */
export function seriesValues(series: StatsSeries, keys: string[], bucket: Bucket, metric: SpendMetric): number[] {
  const byKey = new Map(series.data.map((p) => [bucketKey(p.key, bucket), p]))
  return keys.map((k) => byKey.get(k)?.[metric] ?? 0)
}

/** A row of the top-spenders table. */
export interface Spender {
  key: string
  label: string
  requests: number
  refused: number
  total_tokens: number
  cost_usd: number
  /** Share of the range's cost, 0..1 (of requests when nothing cost anything). */
  share: number
}

/**
 * The top-spenders table of a breakdown (group_by organization, key or model): every
 * row with its share of the total cost, largest first, filtered by a search text that
 * matches the name or the id.
 */
export function spenders(rows: StatsRow[], search = ''): Spender[] {
  const totalCost = rows.reduce((s, r) => s + (r.cost_usd ?? 0), 0)
  const totalReq = rows.reduce((s, r) => s + (r.requests ?? 0), 0)
  const q = search.trim().toLowerCase()
  return rows
    .map((r) => ({
      key: r.key,
      label: rowLabel(r),
      requests: r.requests ?? 0,
      refused: refusedOf(r),
      total_tokens: r.total_tokens ?? 0,
      cost_usd: r.cost_usd ?? 0,
      share: totalCost > 0 ? (r.cost_usd ?? 0) / totalCost : totalReq > 0 ? (r.requests ?? 0) / totalReq : 0,
    }))
    .filter((s) => !q || s.label.toLowerCase().includes(q) || s.key.toLowerCase().includes(q))
    .sort((a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests || a.label.localeCompare(b.label))
}

/** Refused requests by reason as breakdown items, largest first. */
export function refusedItems(byReason: Record<string, number> | null | undefined, label: (code: string) => string): { key: string; name: string; value: number }[] {
  return Object.entries(byReason ?? {})
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([code, n]) => ({ key: code, name: label(code), value: n }))
}

/**
 * Splits the days from..to into consecutive ranges of at most `max` days (the API draws
 * hours over at most two days: a rolling 48 hours spans three calendar days).
 */
export function chunkDays(from: string, to: string, max: number): [string, string][] {
  const days = daysBetween(from, to)
  const out: [string, string][] = []
  for (let i = 0; i < days.length; i += max) out.push([days[i], days[Math.min(days.length, i + max) - 1]])
  return out
}

/**
 * One stats answer from answers over consecutive, disjoint ranges of the same grouping:
 * buckets and series points concatenated, counts and refusals by reason summed. Latency
 * percentiles cannot be summed: the summary keeps the latest range's.
 */
export function mergeStats(parts: StatsResponse[]): StatsResponse {
  if (parts.length === 1) return parts[0]
  const first = parts[0]
  const last = parts[parts.length - 1]
  const data = parts.flatMap((p) => p.data ?? [])
  const t = sumRows(data)
  const byReason: Record<string, number> = {}
  for (const p of parts) for (const [k, n] of Object.entries(p.refused_by_reason ?? {})) byReason[k] = (byReason[k] ?? 0) + n
  let series: StatsSeries[] | undefined
  if (parts.some((p) => p.series)) {
    const map = new Map<string, StatsSeries>()
    for (const p of parts) {
      for (const s of p.series ?? []) {
        const m = map.get(s.key) ?? { key: s.key, label: s.label, data: [] }
        m.data.push(...s.data)
        map.set(s.key, m)
      }
    }
    series = [...map.values()]
  }
  return {
    ...last,
    from: first.from,
    to: last.to,
    summary: { ...t, latency_ms: last.summary?.latency_ms ?? emptySummary().latency_ms },
    data,
    refused_by_reason: byReason,
    ...(series ? { series } : {}),
  }
}
