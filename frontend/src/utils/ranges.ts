// The time ranges of charts: presets (24 h … 90 d) and custom dates, and the buckets
// they are drawn in: hours up to two days (the API allows group_by=hour over at most
// two calendar days), days beyond.
import { addDays, daysBetween, parseYmd, toYmd } from './dates'

export type RangePreset = '24h' | '48h' | '7d' | '30d' | '90d' | 'custom'
export type Bucket = 'hour' | 'day'

export const RANGE_PRESETS: { value: RangePreset; label: string }[] = [
  { value: '24h', label: '24 h' },
  { value: '48h', label: '48 h' },
  { value: '7d', label: '7 d' },
  { value: '30d', label: '30 d' },
  { value: '90d', label: '90 d' },
  { value: 'custom', label: 'Custom' },
]

/** The most calendar days the API draws in hours. */
export const MAX_HOURLY_DAYS = 2

export interface ChartRange {
  preset: RangePreset
  /** UTC calendar days, inclusive, as the stats API takes them. */
  from: string
  to: string
  bucket: Bucket
  /** Hourly ranges: how many of the latest hours to show (24 or 48); null for all. */
  hours: number | null
}

function pad(n: number): string {
  return String(n).padStart(2, '0')
}

/** A UTC calendar date as YYYY-MM-DD. */
export function utcYmd(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`
}

/**
 * The range of a preset at `now`. Hourly presets ask for the UTC days that hold the
 * latest 24 or 48 hours (two or three days) and show those hours of it.
 */
export function presetRange(preset: Exclude<RangePreset, 'custom'>, now: Date = new Date()): ChartRange {
  const today = utcYmd(now)
  if (preset === '24h' || preset === '48h') {
    const hours = preset === '24h' ? 24 : 48
    const from = utcYmd(new Date(now.getTime() - (hours - 1) * 3_600_000))
    return { preset, from, to: today, bucket: 'hour', hours }
  }
  const days = preset === '7d' ? 7 : preset === '30d' ? 30 : 90
  const from = toYmd(addDays(parseYmd(today), -(days - 1)))
  return { preset, from, to: today, bucket: 'day', hours: null }
}

/** A custom range of calendar days: hourly when it spans at most two days. */
export function customRange(from: string, to: string): ChartRange {
  const [a, b] = from <= to ? [from, to] : [to, from]
  const days = daysBetween(a, b).length
  return { preset: 'custom', from: a, to: b, bucket: days <= MAX_HOURLY_DAYS ? 'hour' : 'day', hours: null }
}

/** Every UTC hour of the days from..to, as the API keys them ("2026-11-30T14:00:00Z"). */
export function hoursBetween(from: string, to: string): string[] {
  const out: string[] = []
  for (const day of daysBetween(from, to)) {
    for (let h = 0; h < 24; h++) out.push(`${day}T${pad(h)}:00:00Z`)
  }
  return out
}

/** The bucket keys of a range, oldest first; hourly ranges end at the current hour. */
export function bucketKeys(range: ChartRange, now: Date = new Date()): string[] {
  if (range.bucket === 'day') return daysBetween(range.from, range.to)
  const current = `${utcYmd(now)}T${pad(now.getUTCHours())}:00:00Z`
  let keys = hoursBetween(range.from, range.to).filter((k) => k <= current)
  if (range.hours !== null) keys = keys.slice(-range.hours)
  return keys
}

/** Normalizes a bucket key from the API (day "2026-11-30" or hour "2026-11-30T14:00:00Z", with or without offset). */
export function bucketKey(key: string, bucket: Bucket): string {
  if (bucket === 'day') return key.slice(0, 10)
  const t = Date.parse(key)
  if (Number.isNaN(t)) return key
  const d = new Date(t)
  return `${utcYmd(d)}T${pad(d.getUTCHours())}:00:00Z`
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/**
 * The axis label of a bucket: "Nov 30" for a day, "14:00" for an hour (local time),
 * with the date at local midnight ("Dec 1 00:00") so the day change shows.
 */
export function bucketLabel(key: string, bucket: Bucket): string {
  if (bucket === 'day') {
    const [, m, d] = key.split('-')
    return m && d ? `${MONTHS[Number(m) - 1]} ${Number(d)}` : key
  }
  const t = new Date(key)
  if (Number.isNaN(t.getTime())) return key
  const hh = `${pad(t.getHours())}:00`
  return t.getHours() === 0 ? `${MONTHS[t.getMonth()]} ${t.getDate()} ${hh}` : hh
}

/** The tooltip title of a bucket: "Mon, Nov 30" or "Nov 30, 14:00–15:00" (local time). */
export function bucketTitle(key: string, bucket: Bucket): string {
  if (bucket === 'day') {
    const d = parseYmd(key.slice(0, 10))
    return d.toLocaleDateString('en-US', { weekday: 'short', month: 'short', day: 'numeric' })
  }
  const t = new Date(key)
  if (Number.isNaN(t.getTime())) return key
  const next = new Date(t.getTime() + 3_600_000)
  return `${MONTHS[t.getMonth()]} ${t.getDate()}, ${pad(t.getHours())}:00–${pad(next.getHours())}:00`
}

/** "Nov 24 → Nov 30" or "last 24 hours", for card hints. */
export function rangeText(range: ChartRange): string {
  if (range.preset === '24h') return 'last 24 hours'
  if (range.preset === '48h') return 'last 48 hours'
  return `${bucketLabel(range.from, 'day')} → ${bucketLabel(range.to, 'day')}`
}
