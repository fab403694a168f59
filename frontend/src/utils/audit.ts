// Turns audit event payloads into readable "field: before → after" lists.
import type { HistoryEvent } from '@/api/types'
import { formatCost, formatDateTime, formatInt } from './format'
import { RATE_LABEL } from './limits'

export interface FieldChange {
  field: string
  label: string
  before?: unknown
  after: unknown
  /** True when we knew a previous value and it differs. */
  changed: boolean
  sensitive: boolean
}

export interface DescribedEvent<E extends HistoryEvent = HistoryEvent> {
  event: E
  title: string
  tone: 'green' | 'blue' | 'orange' | 'red' | 'gray' | 'purple' | 'arcoblue'
  changes: FieldChange[]
}

const SENSITIVE = /(hash|secret|password|token)$/i
const HIDDEN_FIELDS = new Set(['id', 'organization_id_hash'])

const LABELS: Record<string, string> = {
  name: 'Name',
  status: 'Status',
  permission: 'Permission',
  permissions: 'Permission',
  prefix: 'Key prefix',
  organization_id: 'Organization',
  expires_at: 'Expires',
  revoked_at: 'Revoked at',
  'limits.monthly_requests': 'Monthly requests limit',
  'limits.monthly_tokens': 'Monthly tokens limit',
  'limits.monthly_cost_usd': 'Monthly cost limit (USD)',
  monthly_requests: 'Monthly requests limit',
  monthly_tokens: 'Monthly tokens limit',
  monthly_cost_usd: 'Monthly cost limit (USD)',
  reason: 'Reason',
  username: 'Username',
  enabled: 'Enabled',
}

/** "ApiKeyIssued" → "Api key issued"; known names get nicer titles. */
export function eventTitle(eventType: string): string {
  const known: Record<string, string> = {
    OrganizationCreated: 'Organization created',
    OrganizationRenamed: 'Organization renamed',
    OrganizationLimitsChanged: 'Limits changed',
    OrganizationSuspended: 'Organization suspended',
    OrganizationReactivated: 'Organization reactivated',
    OrganizationDeleted: 'Organization deleted',
    OrganizationBodyLoggingChanged: 'Body logging changed',
    ApiKeyIssued: 'API key issued',
    ApiKeyRenamed: 'API key renamed',
    ApiKeyPermissionChanged: 'Permission changed',
    ApiKeyPermissionsChanged: 'Permission changed',
    ApiKeyLimitsChanged: 'Limits changed',
    ApiKeySecretRotated: 'Secret rotated',
    ApiKeyRotated: 'Secret rotated',
    ApiKeyRevoked: 'API key revoked',
    ApiKeyExpirySet: 'Expiry changed',
    OperatorCreated: 'Operator created',
    OperatorPasswordChanged: 'Password changed',
    OperatorDisabled: 'Operator disabled',
    OperatorEnabled: 'Operator enabled',
    OperatorDeleted: 'Operator deleted',
    OperatorSessionsEnded: 'Sessions ended',
    RouteCreated: 'Route created',
    RouteUpdated: 'Route changed',
    RouteDeleted: 'Route deleted',
    WebhookEndpointCreated: 'Webhook created',
    WebhookEndpointUpdated: 'Webhook changed',
    WebhookEndpointSecretRotated: 'Webhook secret rotated',
    WebhookEndpointDeleted: 'Webhook deleted',
    LoginFailed: 'Login failed',
    LoginLockedOut: 'Login locked out',
    BudgetThresholdReached: 'Budget threshold reached',
  }
  if (known[eventType]) return known[eventType]
  const words = eventType.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase()
  return words.charAt(0).toUpperCase() + words.slice(1)
}

export function eventTone(eventType: string): DescribedEvent['tone'] {
  if (/(Created|Issued)$/.test(eventType)) return 'green'
  if (/(Deleted|Revoked|Disabled|LockedOut)$/.test(eventType)) return 'red'
  if (/(Suspended|LoginFailed|ThresholdReached)$/.test(eventType)) return 'orange'
  if (/(Reactivated|Enabled)$/.test(eventType)) return 'arcoblue'
  if (/(Rotated|PasswordChanged)$/.test(eventType)) return 'purple'
  return 'blue'
}

/** Flattens nested objects: {limits:{a:1}} → {"limits.a": 1}. Arrays are kept as values. */
export function flatten(obj: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const inner = flatten(v as Record<string, unknown>, key)
      if (Object.keys(inner).length === 0) out[key] = {}
      else Object.assign(out, inner)
    } else {
      out[key] = v
    }
  }
  return out
}

const PERIOD_WORD: Record<string, string> = { daily: 'Daily', weekly: 'Weekly', monthly: 'Monthly', total: 'Total' }
/** Events record a cost limit as integer nano-USD under `<period>_cost`. */
const NANO_COST_FIELD = /(^|\.)(daily|weekly|monthly|total)_cost$/

/** Labels of the limits in events: budgets, rates, per-model rates, thresholds. */
function limitFieldLabel(field: string): string | null {
  const path = field.replace(/^limits\./, '')
  const model = /^models\.(.+)\.(requests_per_minute|tokens_per_minute|concurrent_requests)$/.exec(path)
  if (model) return `${RATE_LABEL[model[2] as keyof typeof RATE_LABEL]} limit for ${model[1]}`
  if (path === 'alert_thresholds_percent') return 'Alert thresholds (%)'
  const rate = path.replace(/^rates\./, '')
  if (rate in RATE_LABEL) return `${RATE_LABEL[rate as keyof typeof RATE_LABEL]} limit`
  const budget = /^(daily|weekly|monthly|total)_(requests|tokens|cost|cost_usd)$/.exec(path)
  if (budget) return `${PERIOD_WORD[budget[1]]} ${budget[2].startsWith('cost') ? 'cost limit (USD)' : `${budget[2]} limit`}`
  return null
}

export function fieldLabel(field: string): string {
  if (LABELS[field]) return LABELS[field]
  if (field.startsWith('limits.')) {
    const label = limitFieldLabel(field)
    if (label) return label
  }
  const last = field.split('.').pop() ?? field
  if (LABELS[last]) return LABELS[last]
  const s = field.replace(/[._]/g, ' ')
  return s.charAt(0).toUpperCase() + s.slice(1)
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/**
 * Describes events in order (oldest first by sequence, or by position for mixed lists)
 * and, for events of the same aggregate, remembers earlier values so that later
 * changes show "before → after". Returns newest first.
 */
export function describeEvents<E extends HistoryEvent & { aggregate_id?: string; position?: number }>(
  events: E[],
): DescribedEvent<E>[] {
  const ordered = [...events].sort((a, b) => {
    if (a.position !== undefined && b.position !== undefined) return a.position - b.position
    return (a.sequence ?? 0) - (b.sequence ?? 0)
  })
  const states = new Map<string, Record<string, unknown>>()
  const described = ordered.map((event) => {
    const aggregate = event.aggregate_id ?? '_'
    const state = states.get(aggregate) ?? {}
    const flat = flatten(event.payload ?? {})
    const changes: FieldChange[] = []
    for (const [field, after] of Object.entries(flat)) {
      if (HIDDEN_FIELDS.has(field)) continue
      const sensitive = SENSITIVE.test(field)
      const known = Object.prototype.hasOwnProperty.call(state, field)
      const before = known ? state[field] : undefined
      changes.push({
        field,
        label: fieldLabel(field),
        before: known ? before : undefined,
        after,
        changed: known && !same(before, after),
        sensitive,
      })
      state[field] = after
    }
    // Limits events may carry the limits object without the "limits." prefix: mirror them.
    for (const k of ['monthly_requests', 'monthly_tokens', 'monthly_cost_usd']) {
      if (k in flat) state[`limits.${k}`] = flat[k]
      if (`limits.${k}` in flat) state[k] = flat[`limits.${k}`]
    }
    states.set(aggregate, state)
    return { event, title: eventTitle(event.event_type), tone: eventTone(event.event_type), changes }
  })
  return described.reverse()
}

/** RFC 3339 instants as events store them (possibly with nanoseconds). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/
/** Limits in USD (API shapes) as opposed to the nano-USD integers of events. */
const USD_COST_FIELD = /(^|\.)(daily|weekly|monthly|total)_cost_usd$/

/** An RFC 3339 instant in the app's date format (fractions past milliseconds dropped). */
export function displayInstant(v: string): string {
  const trimmed = v.replace(/(\.\d{3})\d+/, '$1')
  return formatDateTime(trimmed)
}

/** A value as shown in the audit list: money in USD, times in the app's format, lists joined. */
export function displayValue(v: unknown, field = ''): string {
  if (v === null || v === undefined) {
    return /limit|monthly_|daily_|weekly_|total_|per_minute|concurrent/.test(field) ? 'unlimited' : 'none'
  }
  if (typeof v === 'string') return RFC3339.test(v) ? displayInstant(v) : v
  if (typeof v === 'number' && NANO_COST_FIELD.test(field)) return formatCost(v / 1e9)
  if (typeof v === 'number' && USD_COST_FIELD.test(field)) return formatCost(v)
  if (typeof v === 'number') return Number.isInteger(v) ? formatInt(v) : String(v)
  if (typeof v === 'boolean') return v ? 'yes' : 'no'
  if (Array.isArray(v)) {
    if (!v.length) return 'none'
    if (v.every((x) => typeof x !== 'object' || x === null)) return v.map((x) => displayValue(x, field)).join(', ')
  }
  return JSON.stringify(v)
}

/**
 * One line for a compact audit row: the changed fields first ("Monthly requests limit:
 * unlimited → 40"), then new ones, at most `max`, then "+N more". Secrets are never shown.
 */
export function summarizeChanges(changes: FieldChange[], max = 2, show: (v: unknown, field: string) => string = displayValue): string {
  const visible = changes.filter((c) => !c.sensitive && !isUnsetField(c))
  if (!visible.length) return ''
  // What changed, then what is new; fields repeated unchanged (full limits objects) only when nothing else.
  const news = [...visible.filter((c) => c.changed), ...visible.filter((c) => !c.changed && c.before === undefined)]
  const pool = news.length ? news : visible
  const pick = pool.slice(0, max)
  const rest = pool.length - pick.length
  const parts = pick.map((c) => (c.changed ? `${c.label}: ${show(c.before, c.field)} → ${show(c.after, c.field)}` : `${c.label}: ${show(c.after, c.field)}`))
  return parts.join('; ') + (rest > 0 ? ` · +${rest} more` : '')
}

/** A field an event sets for the first time to nothing (an unlimited limit, no expiry): noise in lists. */
export function isUnsetField(c: FieldChange): boolean {
  return !c.changed && c.before === undefined && (c.after === null || c.after === undefined)
}

/** The internal coordinates of an event, for the expanded details only. */
export function eventCoordinates(e: HistoryEvent & { position?: number }): string {
  const parts = [`${e.event_type}`, `version ${e.event_version}`, `sequence ${e.sequence}`]
  if (e.position !== undefined) parts.push(`position ${e.position}`)
  return parts.join(' · ')
}

/** Short form of a browser user agent: "Chrome 131 on Linux". */
export function describeUserAgent(ua: string | null | undefined): string {
  if (!ua) return 'unknown client'
  const browser =
    /Edg\/(\d+)/.exec(ua)?.[1] !== undefined
      ? `Edge ${/Edg\/(\d+)/.exec(ua)![1]}`
      : /Firefox\/(\d+)/.exec(ua)
        ? `Firefox ${/Firefox\/(\d+)/.exec(ua)![1]}`
        : /Chrom(?:e|ium)\/(\d+)/.exec(ua)
          ? `Chrome ${/Chrom(?:e|ium)\/(\d+)/.exec(ua)![1]}`
          : /Version\/(\d+).*Safari/.exec(ua)
            ? `Safari ${/Version\/(\d+).*Safari/.exec(ua)![1]}`
            : null
  const os = /Windows/.test(ua)
    ? 'Windows'
    : /Android/.test(ua)
      ? 'Android'
      : /iPhone|iPad/.test(ua)
        ? 'iOS'
        : /Mac OS X/.test(ua)
          ? 'macOS'
          : /Linux/.test(ua)
            ? 'Linux'
            : null
  if (browser) return os ? `${browser} on ${os}` : browser
  // curl/8.5.0, python-requests/2.31 ...
  const first = ua.split(' ')[0]
  return first.length <= 40 ? first : ua.slice(0, 40) + '…'
}
