// Refusals of an organization or key this month, as sentences for its page:
// "Key's monthly requests limit reached at 14:02 · 37 refused since".
import type { RefusalSummary } from '@/api/types'
import { formatDateTime, formatInt } from './format'
import { reasonLabel } from './logs'

const clock = new Intl.DateTimeFormat('en-US', { hour: '2-digit', minute: '2-digit', hour12: false })

/** "14:02" for a time today (local), the app's date format otherwise. */
export function shortTime(iso: string, now: Date = new Date()): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate()
  return sameDay ? clock.format(d) : formatDateTime(iso)
}

/** Limits are reached at a moment and refuse from then on; other reasons are counted. */
export function refusalSentence(r: RefusalSummary, now: Date = new Date()): string {
  const n = Math.max(0, Math.round(r.count ?? 0))
  const refused = n === 1 ? '1 refused' : `${formatInt(n)} refused`
  if (/_limit$/.test(r.reason)) {
    return `${reasonLabel(r.reason)} reached at ${shortTime(r.first_at, now)} · ${refused} since`
  }
  const last = n > 1 ? `, last at ${shortTime(r.last_at, now)}` : ` at ${shortTime(r.last_at, now)}`
  return `${reasonLabel(r.reason)} (HTTP ${r.http_status}): ${refused}${last}`
}

/** How many requests were refused in all. */
export function totalRefused(rs: readonly RefusalSummary[] | null | undefined): number {
  return (rs ?? []).reduce((s, r) => s + Math.max(0, Math.round(r.count ?? 0)), 0)
}
