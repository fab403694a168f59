// Display formatting helpers. All are pure and locale-stable (en-US).

const nf0 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })

function num(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null
  const n = typeof v === 'number' ? v : Number(v)
  return Number.isFinite(n) ? n : null
}

/**
 * The one rule for counts (requests, tokens, events) everywhere: exact with thousands
 * separators below 10,000, compact above: 3912 → "3,912", 61_800 → "61.8K", 4_200_000 → "4.2M".
 */
export function formatCount(v: unknown): string {
  const n = num(v)
  if (n === null) return '—'
  return Math.abs(n) >= COMPACT_FROM ? compact(n) : nf0.format(Math.round(n))
}

/** Counts below this are written out; from it on they are compact. */
export const COMPACT_FROM = 10_000

function compact(n: number): string {
  const abs = Math.abs(n)
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ]
  for (const [size, suffix] of units) {
    if (abs >= size) {
      const x = n / size
      const digits = Math.abs(x) >= 100 ? 0 : 1
      return `${trimZeros(x.toFixed(digits))}${suffix}`
    }
  }
  return nf0.format(Math.round(n))
}

/**
 * A count on a chart axis, where ticks sit side by side: compact from 1,000 on
 * (0, 500, 1K, 1.5K, 2K), so neighbouring labels never run into each other.
 */
export function formatCountTick(v: unknown): string {
  const n = num(v)
  if (n === null) return ''
  return Math.abs(n) >= 1_000 ? compact(n) : nf0.format(Math.round(n))
}

/** A count, by the one rule (see formatCount). Kept under its old name for callers. */
export const formatInt = formatCount
/** A count, by the one rule (see formatCount). Kept under its old name for callers. */
export const formatCompact = formatCount
/** Tokens are counts: the one rule (see formatCount). */
export const formatTokens = formatCount

/** An exact integer, never compact: for identifiers such as log positions. */
export function formatExact(v: unknown): string {
  const n = num(v)
  return n === null ? '—' : nf0.format(Math.round(n))
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s
}

/**
 * US dollars, one rule everywhere: "$" with 2 decimals from $1 on ("$12.50",
 * "$12,345.68"), 4 significant digits below ("$0.02300", "$0.05510", "$0.00004200");
 * zero is "$0.00".
 */
export function formatCost(v: unknown): string {
  const n = num(v)
  if (n === null) return '—'
  if (n === 0) return '$0.00'
  const abs = Math.abs(n)
  const sign = n < 0 ? '-' : ''
  if (abs >= 1) {
    return sign + '$' + abs.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })
  }
  if (abs < 1e-8) return sign + '<$0.00000001'
  // 4 significant digits: as many decimals as the first significant digit needs, plus 3.
  const decimals = Math.min(20, 3 - Math.floor(Math.log10(abs)))
  const fixed = abs.toFixed(decimals)
  // Rounding may carry to $1 (0.99996 → "1.0000"): then the $1 rule applies.
  if (Number(fixed) >= 1) return sign + '$1.00'
  return sign + '$' + fixed
}

/** Money on a chart axis: the same rule without trailing zeros ("$0.05", "$0.0001", "$12.50"). */
export function formatCostTick(v: unknown): string {
  const s = formatCost(v)
  const m = /^(-?\$)(\d[\d,]*)\.(\d+)$/.exec(s)
  if (!m) return s
  const frac = m[3].replace(/0+$/, '').padEnd(2, '0')
  return `${m[1]}${m[2]}.${frac}`
}

/** A rate 0..1 as a percentage: 0.1234 → "12.3%", 0 → "0%", 1 → "100%", 0.0004 → "0.04%". */
export function formatPercent(v: unknown, digits = 1): string {
  const n = num(v)
  if (n === null) return '—'
  const p = n * 100
  if (p === 0) return '0%'
  if (Math.abs(p) < 0.1 && digits <= 1) return `${trimZeros(p.toFixed(2))}%`
  return `${trimZeros(p.toFixed(digits))}%`
}

/** Milliseconds: 850 → "850 ms", 1530 → "1.53 s", 65000 → "1m 5s". */
export function formatMs(v: unknown): string {
  const n = num(v)
  if (n === null) return '—'
  if (n < 1000) return `${Math.round(n)} ms`
  if (n < 60_000) return `${trimZeros((n / 1000).toFixed(2))} s`
  const m = Math.floor(n / 60_000)
  const s = Math.round((n % 60_000) / 1000)
  return `${m}m ${s}s`
}

/** Seconds of lag: 0 → "0 s", 75 → "1m 15s", 7200 → "2h 0m". */
export function formatDuration(seconds: unknown): string {
  const n = num(seconds)
  if (n === null) return '—'
  if (n < 60) return `${trimZeros(n.toFixed(n < 10 ? 1 : 0))} s`
  if (n < 3600) return `${Math.floor(n / 60)}m ${Math.round(n % 60)}s`
  if (n < 86_400) return `${Math.floor(n / 3600)}h ${Math.floor((n % 3600) / 60)}m`
  return `${Math.floor(n / 86_400)}d ${Math.floor((n % 86_400) / 3600)}h`
}

const dtf = new Intl.DateTimeFormat('en-US', {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
})
const df = new Intl.DateTimeFormat('en-US', { year: 'numeric', month: 'short', day: 'numeric' })

/** ISO timestamp → "Nov 3, 2026, 14:05:09" in local time. */
export function formatDateTime(v: string | null | undefined): string {
  if (!v) return '—'
  const d = new Date(v)
  return Number.isNaN(d.getTime()) ? v : dtf.format(d)
}

export function formatDate(v: string | null | undefined): string {
  if (!v) return '—'
  const d = new Date(v)
  return Number.isNaN(d.getTime()) ? v : df.format(d)
}

/** "3 minutes ago", "in 2 days". */
export function formatRelative(v: string | null | undefined, now: number = Date.now()): string {
  if (!v) return '—'
  const t = new Date(v).getTime()
  if (Number.isNaN(t)) return v
  const diff = t - now
  const abs = Math.abs(diff)
  const rtf = new Intl.RelativeTimeFormat('en-US', { numeric: 'auto' })
  const table: [number, Intl.RelativeTimeFormatUnit][] = [
    [60_000, 'second'],
    [3_600_000, 'minute'],
    [86_400_000, 'hour'],
    [2_592_000_000, 'day'],
    [31_536_000_000, 'month'],
  ]
  const divisors: Record<string, number> = {
    second: 1000,
    minute: 60_000,
    hour: 3_600_000,
    day: 86_400_000,
    month: 2_592_000_000,
    year: 31_536_000_000,
  }
  let unit: Intl.RelativeTimeFormatUnit = 'year'
  for (const [limit, u] of table) {
    if (abs < limit) {
      unit = u
      break
    }
  }
  return rtf.format(Math.round(diff / divisors[unit]), unit)
}

/** Short form of a UUID for tables: first 8 chars. */
export function shortId(id: string | null | undefined): string {
  if (!id) return '—'
  return id.length > 12 ? id.slice(0, 8) : id
}

/** Fraction of a limit used, 0..1+ ; null when unlimited. */
export function usageRatio(used: number | null | undefined, limit: number | null | undefined): number | null {
  if (limit === null || limit === undefined) return null
  if (limit <= 0) return (used ?? 0) > 0 ? 1 : 0
  return (used ?? 0) / limit
}
