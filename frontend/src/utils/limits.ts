// Limits of organizations and API keys: the editable draft, its validation (mirroring
// the API's), the merge patch an edit sends, and how budgets are shown. All pure.
import type {
  Budget,
  BudgetMetric,
  BudgetPeriod,
  Limits,
  LimitsPatch,
  RateLimits,
  ScalarLimit,
  Usage,
} from '@/api/types'
import { formatCompact, formatCost, formatInt, formatRelative } from './format'
import { thresholdStatus, type ThresholdStatus } from './thresholds'

export const BUDGET_PERIODS: BudgetPeriod[] = ['day', 'week', 'month', 'total']
export const BUDGET_METRICS: BudgetMetric[] = ['requests', 'tokens', 'cost_usd']
export const RATE_FIELDS: (keyof RateLimits)[] = ['requests_per_minute', 'tokens_per_minute', 'concurrent_requests']
export const DEFAULT_ALERT_THRESHOLDS = [50, 80, 100]
export const MAX_MODELS = 64
export const MAX_MODEL_NAME_CHARS = 256
export const MAX_ALERT_THRESHOLDS = 10
const MAX_COST_DECIMALS = 9

// Where a bar turns amber and red: one module for every page (utils/thresholds.ts).
export { WARNING_PERCENT, DANGER_PERCENT } from './thresholds'

const PERIOD_PREFIX: Record<BudgetPeriod, string> = { day: 'daily', week: 'weekly', month: 'monthly', total: 'total' }
export const PERIOD_LABEL: Record<BudgetPeriod, string> = { day: 'Daily', week: 'Weekly', month: 'Monthly', total: 'Total' }
export const METRIC_LABEL: Record<BudgetMetric, string> = { requests: 'requests', tokens: 'tokens', cost_usd: 'cost' }
export const RATE_LABEL: Record<keyof RateLimits, string> = {
  requests_per_minute: 'Requests / min',
  tokens_per_minute: 'Tokens / min',
  concurrent_requests: 'In flight',
}

/** `daily_requests`, `monthly_cost_usd`, … */
export function budgetField(period: BudgetPeriod, metric: BudgetMetric): ScalarLimit {
  return `${PERIOD_PREFIX[period]}_${metric}` as ScalarLimit
}

export const SCALAR_LIMITS: ScalarLimit[] = [
  ...BUDGET_PERIODS.flatMap((p) => BUDGET_METRICS.map((m) => budgetField(p, m))),
  ...RATE_FIELDS,
]

export function emptyRates(): RateLimits {
  return { requests_per_minute: null, tokens_per_minute: null, concurrent_requests: null }
}

export function emptyLimits(): Limits {
  const l = { models: {}, alert_thresholds_percent: null } as unknown as Limits
  for (const f of SCALAR_LIMITS) l[f] = null
  return l
}

/** Fills what an older server (or a partial object) leaves out, so every field is present. */
export function normalizeLimits(l: Partial<Limits> | null | undefined): Limits {
  const out = emptyLimits()
  if (!l) return out
  for (const f of SCALAR_LIMITS) out[f] = l[f] ?? null
  for (const [model, r] of Object.entries(l.models ?? {})) out.models[model] = { ...emptyRates(), ...(r ?? {}) }
  out.alert_thresholds_percent = l.alert_thresholds_percent ? [...l.alert_thresholds_percent] : null
  return out
}

// ---- the form's draft

export interface ModelRateRow extends RateLimits {
  /** Stable key for v-for, not sent. */
  key: number
  model: string
}

/** What the form edits: the limits with models as rows (so a name can be typed). */
export interface LimitsDraft {
  values: Record<ScalarLimit, number | null>
  models: ModelRateRow[]
  /** Tags as typed; empty = the default thresholds. */
  thresholds: string[]
}

let rowKey = 0
export function newModelRow(model = '', rates: Partial<RateLimits> = {}): ModelRateRow {
  return { key: ++rowKey, model, ...emptyRates(), ...rates }
}

export function toDraft(limits: Partial<Limits> | null | undefined): LimitsDraft {
  const l = normalizeLimits(limits)
  const values = {} as Record<ScalarLimit, number | null>
  for (const f of SCALAR_LIMITS) values[f] = l[f]
  return {
    values,
    models: Object.entries(l.models).map(([m, r]) => newModelRow(m, r)),
    thresholds: (l.alert_thresholds_percent ?? []).map(String),
  }
}

/** The limits a valid draft stands for (check `validateDraft` first). */
export function fromDraft(d: LimitsDraft): Limits {
  const l = emptyLimits()
  for (const f of SCALAR_LIMITS) l[f] = blank(d.values[f]) ? null : Number(d.values[f])
  for (const row of d.models) {
    const name = row.model.trim()
    if (!name) continue
    const r = emptyRates()
    for (const f of RATE_FIELDS) r[f] = blank(row[f]) ? null : Number(row[f])
    l.models[name] = r
  }
  const t = parseThresholds(d.thresholds)
  l.alert_thresholds_percent = t.length ? t : null
  return l
}

function blank(v: unknown): boolean {
  return v === null || v === undefined || v === '' || (typeof v === 'number' && Number.isNaN(v))
}

function parseThresholds(tags: string[]): number[] {
  return tags.map((t) => Number(String(t).trim().replace(/%$/, '')))
}

/** Sorts and de-duplicates typed thresholds, so the common case needs no error message. */
export function tidyThresholds(tags: string[]): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  for (const t of tags) {
    const s = String(t).trim().replace(/%$/, '')
    if (s && !seen.has(s)) {
      seen.add(s)
      out.push(s)
    }
  }
  const numeric = out.every((s) => /^\d+$/.test(s))
  return numeric ? out.sort((a, b) => Number(a) - Number(b)) : out
}

/** Decimal places of a number as typed (handles 1e-7). */
export function decimalsOf(n: number): number {
  if (!Number.isFinite(n)) return 0
  const [mantissa, exp] = String(n).toLowerCase().split('e')
  const frac = (mantissa.split('.')[1] ?? '').length
  return Math.max(0, frac - Number(exp ?? 0))
}

export function limitLabel(f: ScalarLimit): string {
  if (f in RATE_LABEL) return RATE_LABEL[f as keyof RateLimits]
  const [prefix, ...rest] = f.split('_')
  const metric = rest.join('_') as BudgetMetric
  return `${prefix[0].toUpperCase()}${prefix.slice(1)} ${METRIC_LABEL[metric]}${metric === 'cost_usd' ? ' (USD)' : ''}`
}

function checkCount(v: unknown, label: string): string | null {
  if (blank(v)) return null
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) return `${label} must be a whole number of 0 or more.`
  if (n > Number.MAX_SAFE_INTEGER) return `${label} is too large.`
  return null
}

/** The first problems of a draft, as the API would report them; empty when it can be sent. */
export function validateDraft(d: LimitsDraft): string[] {
  const errors: string[] = []
  for (const f of SCALAR_LIMITS) {
    const v = d.values[f]
    if (f.endsWith('_cost_usd')) {
      if (blank(v)) continue
      const n = Number(v)
      if (!Number.isFinite(n) || n < 0) errors.push(`${limitLabel(f)} must be 0 or more.`)
      else if (decimalsOf(n) > MAX_COST_DECIMALS) errors.push(`${limitLabel(f)} has more than ${MAX_COST_DECIMALS} decimal places.`)
    } else {
      const e = checkCount(v, limitLabel(f))
      if (e) errors.push(e)
    }
  }
  const names = new Set<string>()
  const named = d.models.filter((r) => r.model.trim() || RATE_FIELDS.some((f) => !blank(r[f])))
  if (named.length > MAX_MODELS) errors.push(`At most ${MAX_MODELS} models may have their own rates.`)
  for (const row of named) {
    const name = row.model.trim()
    if (!name) {
      errors.push('Give every per-model rate a model name, or remove the row.')
      continue
    }
    if ([...name].length > MAX_MODEL_NAME_CHARS) errors.push(`A model name has at most ${MAX_MODEL_NAME_CHARS} characters.`)
    if (names.has(name)) errors.push(`“${name}” is listed twice in per-model rates.`)
    names.add(name)
    if (RATE_FIELDS.every((f) => blank(row[f]))) errors.push(`Set at least one rate for “${name}”, or remove the row.`)
    for (const f of RATE_FIELDS) {
      const e = checkCount(row[f], `${RATE_LABEL[f]} for “${name}”`)
      if (e) errors.push(e)
    }
  }
  const t = parseThresholds(d.thresholds)
  if (t.length > MAX_ALERT_THRESHOLDS) errors.push(`At most ${MAX_ALERT_THRESHOLDS} alert thresholds.`)
  if (t.some((x) => !Number.isInteger(x) || x < 1 || x > 100)) errors.push('Alert thresholds are whole percentages from 1 to 100.')
  else if (t.some((x, i) => i > 0 && x <= t[i - 1])) errors.push('Alert thresholds must rise (e.g. 50, 80, 100).')
  return errors
}

// ---- the merge patch an edit sends

function sameRates(a: RateLimits, b: RateLimits): boolean {
  return RATE_FIELDS.every((f) => a[f] === b[f])
}

/**
 * The JSON merge patch (RFC 7396) that turns `before` into `after`: only the limits
 * that changed, `null` for a cleared one, `"<model>": null` for a removed model and,
 * inside a changed model, only its changed rates. `undefined` when nothing changed.
 */
export function limitsPatch(before: Partial<Limits>, after: Partial<Limits>): LimitsPatch | undefined {
  const a = normalizeLimits(before)
  const b = normalizeLimits(after)
  const patch: LimitsPatch = {}
  for (const f of SCALAR_LIMITS) {
    if (a[f] !== b[f]) patch[f] = b[f]
  }
  const models: NonNullable<LimitsPatch['models']> = {}
  for (const m of Object.keys(a.models)) {
    if (!(m in b.models)) models[m] = null
  }
  for (const [m, rates] of Object.entries(b.models)) {
    const old = a.models[m]
    if (!old) {
      models[m] = { ...rates }
    } else if (!sameRates(old, rates)) {
      const changed: Partial<RateLimits> = {}
      for (const f of RATE_FIELDS) if (old[f] !== rates[f]) changed[f] = rates[f]
      models[m] = changed
    }
  }
  if (Object.keys(models).length) patch.models = models
  if (JSON.stringify(a.alert_thresholds_percent) !== JSON.stringify(b.alert_thresholds_percent)) {
    patch.alert_thresholds_percent = b.alert_thresholds_percent
  }
  return Object.keys(patch).length ? patch : undefined
}

// ---- showing budgets

export type BarStatus = ThresholdStatus

/** The colour of a usage bar at `percent` used (the one set of thresholds). */
export const budgetStatus = thresholdStatus

/** The budget closest to its limit, or null when none is set. */
export function tightestBudget(usage: Usage | null | undefined): Budget | null {
  let best: Budget | null = null
  for (const b of usage?.budgets ?? []) if (!best || b.percent_used > best.percent_used) best = b
  return best
}

export function budgetLabel(b: Pick<Budget, 'period' | 'metric'>): string {
  return `${PERIOD_LABEL[b.period]} ${METRIC_LABEL[b.metric]}`
}

export function metricFormat(metric: BudgetMetric): (v: number) => string {
  return metric === 'requests' ? formatInt : metric === 'tokens' ? formatCompact : formatCost
}

/** "resets in 5 hours" or "never resets". */
export function resetsText(resetsAt: string | null | undefined, now: number = Date.now()): string {
  return resetsAt ? `resets ${formatRelative(resetsAt, now)}` : 'never resets'
}

/** Budgets in a fixed order (day → total, requests → cost), for lists that do not jump. */
export function sortedBudgets(budgets: Budget[] | null | undefined): Budget[] {
  const rank = (b: Budget) => BUDGET_PERIODS.indexOf(b.period) * 10 + BUDGET_METRICS.indexOf(b.metric)
  return [...(budgets ?? [])].sort((x, y) => rank(x) - rank(y))
}
