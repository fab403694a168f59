// Helpers for the stats API answers.
import type { StatsRow, StatsSummary } from '@/api/types'
import { daysBetween } from './dates'

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
