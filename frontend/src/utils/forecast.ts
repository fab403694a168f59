// When a budget will be reached at the current rate: the usage so far in the period
// divided by the time elapsed since the period started, carried forward.
import type { Budget } from '@/api/types'

export type Forecast =
  /** Already at or over the limit. */
  | { kind: 'reached' }
  /** At this rate the limit is reached at `at`, before the period resets. */
  | { kind: 'reaches'; at: Date }
  /** At this rate the period resets first (or nothing is used yet). */
  | { kind: 'not_before_reset' }
  /** A total budget (never resets) with no usage yet. */
  | { kind: 'no_usage' }

export interface ForecastInput {
  limit: number
  used: number
  /** When the period started (the Unix epoch for total budgets). */
  periodStart: string | Date
  /** When the period resets; null for total budgets. */
  resetsAt: string | Date | null
}

const time = (v: string | Date) => (v instanceof Date ? v.getTime() : Date.parse(v))

/** The forecast of one budget at `now` (pure). */
export function forecastBudget(b: ForecastInput, now: Date = new Date()): Forecast {
  if (b.limit <= 0 || b.used >= b.limit) return { kind: 'reached' }
  const start = time(b.periodStart)
  const elapsed = now.getTime() - start
  const resets = b.resetsAt === null ? null : time(b.resetsAt)
  if (!(b.used > 0) || !(elapsed > 0) || Number.isNaN(start)) {
    return resets === null ? { kind: 'no_usage' } : { kind: 'not_before_reset' }
  }
  const rate = b.used / elapsed // per millisecond
  const at = now.getTime() + (b.limit - b.used) / rate
  if (resets !== null && !Number.isNaN(resets) && at >= resets) return { kind: 'not_before_reset' }
  return { kind: 'reaches', at: new Date(at) }
}

/** The forecast of a budget as the API answers it, given its period's start. */
export function forecastOf(budget: Budget, periodStart: string | null | undefined, now: Date = new Date()): Forecast | null {
  // A total budget's period starts at the epoch: the rate would be meaningless, and the
  // key's own life is the better start; without a start there is no forecast.
  if (!periodStart) return null
  return forecastBudget({ limit: budget.limit, used: budget.used, periodStart, resetsAt: budget.resets_at }, now)
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const pad = (n: number) => String(n).padStart(2, '0')

/** "at this rate: reached Dec 18", "… reached at 18:40" (within a day), "… not before it resets". */
export function forecastText(f: Forecast | null, now: Date = new Date()): string {
  if (!f) return ''
  switch (f.kind) {
    case 'reached':
      return 'limit reached'
    case 'not_before_reset':
      return 'at this rate: not before it resets'
    case 'no_usage':
      return 'no usage yet'
    case 'reaches': {
      const at = f.at
      if (at.getTime() - now.getTime() < 86_400_000 && at.getDate() === now.getDate()) {
        return `at this rate: reached at ${pad(at.getHours())}:${pad(at.getMinutes())}`
      }
      const year = at.getFullYear() !== now.getFullYear() ? `, ${at.getFullYear()}` : ''
      return `at this rate: reached ${MONTHS[at.getMonth()]} ${at.getDate()}${year}`
    }
  }
}
