// How the request log shows a request: its status (served, failed upstream, refused by
// GaiaRouter), the HTTP status, the reason in words, timings and token figures.
import type { RequestLogEntry } from '@/api/types'

export type LogStatus = 'success' | 'error' | 'refused'
export type TagColor = 'green' | 'red' | 'orange' | 'gold' | 'gray' | 'arcoblue'

/** The entry's status; older servers only know success and error. */
export function statusOf(e: Pick<RequestLogEntry, 'status'>): LogStatus {
  return e.status === 'refused' || e.status === 'error' ? e.status : 'success'
}

/** How many requests a row stands for: identical refusals are folded into one row. */
export function requestCount(e: Pick<RequestLogEntry, 'status' | 'refused_count'>): number {
  return statusOf(e) === 'refused' ? Math.max(1, Math.round(e.refused_count ?? 1)) : 1
}

/** Served, failed and refused requests of some rows (refusals summed, never counted as rows). */
export function tally(rows: readonly Pick<RequestLogEntry, 'status' | 'refused_count'>[]): Record<LogStatus, number> {
  const t: Record<LogStatus, number> = { success: 0, error: 0, refused: 0 }
  for (const r of rows) t[statusOf(r)] += requestCount(r)
  return t
}

/** "Refused ×37", "Refused", "Error", "Success". */
export function statusLabel(e: Pick<RequestLogEntry, 'status' | 'refused_count'>): string {
  const s = statusOf(e)
  if (s === 'refused') {
    const n = requestCount(e)
    return n > 1 ? `Refused ×${n}` : 'Refused'
  }
  return s === 'error' ? 'Error' : 'Success'
}

export function statusColor(s: LogStatus): TagColor {
  return s === 'success' ? 'green' : s === 'error' ? 'red' : 'orange'
}

const HTTP_TEXT: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  422: 'Unprocessable',
  429: 'Too Many Requests',
  499: 'Client Closed',
  500: 'Internal Error',
  502: 'Bad Gateway',
  503: 'Unavailable',
  504: 'Gateway Timeout',
}

/** "429 Too Many Requests"; 0 (no answer from an upstream) → "no answer". */
export function httpStatusText(code: number | null | undefined): string {
  if (!code) return 'no answer'
  return HTTP_TEXT[code] ? `${code} ${HTTP_TEXT[code]}` : String(code)
}

export function httpStatusColor(code: number | null | undefined): TagColor {
  if (!code) return 'gray'
  if (code < 300) return 'green'
  if (code === 429) return 'orange'
  if (code < 500) return 'gold'
  return 'red'
}

const KNOWN_REASONS: Record<string, string> = {
  invalid_request: 'Invalid request',
  model_not_found: 'Unknown model',
  api_key_revoked: 'Key revoked',
  api_key_expired: 'Key expired',
  invalid_api_key: 'Invalid key',
  organization_suspended: 'Organization suspended',
  no_available_deployment: 'No deployment available',
  limit_reached: 'Over a limit',
  admission_unavailable: 'Limits unavailable',
  not_recorded: 'Could not be recorded',
  upstream_auth_failed: 'Provider refused the credential',
  upstream_client_error: 'Provider rejected the request',
  upstream_connection_error: 'Could not reach the provider',
  connect_error: 'Could not reach the provider',
  upstream_error: 'Provider error',
  upstream_invalid_response: 'Invalid answer from the provider',
  upstream_rate_limited: 'Provider rate limit',
  upstream_server_error: 'Provider server error',
  upstream_stream_cut: 'Stream cut by the provider',
  upstream_timeout: 'Provider timed out',
  timeout: 'Timed out',
  unsupported_request: 'Unsupported by the provider',
  client_disconnected: 'Client disconnected',
}

const LIMIT_WHAT: Record<string, string> = {
  requests_per_minute: 'requests per minute',
  tokens_per_minute: 'tokens per minute',
  concurrent_requests: 'requests in flight',
}
const LIMIT_CODE = /^(organization|api_key)_(model_)?((daily|weekly|monthly|total)_(requests|tokens|cost)|requests_per_minute|tokens_per_minute|concurrent_requests)_limit$/

/**
 * The reason code in words: "api_key_monthly_requests_limit" → "Key's monthly requests limit",
 * "organization_model_concurrent_requests_limit" → "Organization's per-model requests in flight limit".
 */
export function reasonLabel(kind: string | null | undefined): string {
  if (!kind) return ''
  if (KNOWN_REASONS[kind]) return KNOWN_REASONS[kind]
  const m = LIMIT_CODE.exec(kind)
  if (m) {
    const whose = m[1] === 'organization' ? "Organization's" : "Key's"
    const perModel = m[2] ? 'per-model ' : ''
    const what = m[4] ? `${m[4]} ${m[5]}` : LIMIT_WHAT[m[3]]
    return `${whose} ${perModel}${what} limit`
  }
  const s = kind.replace(/_/g, ' ')
  return s.charAt(0).toUpperCase() + s.slice(1)
}

/** Reasons offered by the log's reason filter (any other code can be typed). */
export const COMMON_REASONS = [
  'api_key_monthly_requests_limit',
  'api_key_daily_requests_limit',
  'api_key_requests_per_minute_limit',
  'api_key_model_concurrent_requests_limit',
  'organization_monthly_cost_limit',
  'organization_requests_per_minute_limit',
  'invalid_request',
  'model_not_found',
  'api_key_revoked',
  'api_key_expired',
  'organization_suspended',
  'no_available_deployment',
  'upstream_rate_limited',
  'upstream_timeout',
  'upstream_server_error',
  'upstream_connection_error',
] as const

/** When a request finished: `finished_at`, else its start plus its latency. */
export function finishedAt(e: Pick<RequestLogEntry, 'created_at' | 'latency_ms' | 'finished_at'>): string {
  if (e.finished_at) return e.finished_at
  const t = new Date(e.created_at).getTime()
  if (Number.isNaN(t)) return e.created_at
  return new Date(t + (e.latency_ms ?? 0)).toISOString()
}

export interface TokenLine {
  label: string
  value: number
  /** Part of another line (cached ⊂ prompt, reasoning ⊂ completion). */
  partOf?: string
}

/** Every token figure of a request, missing ones as 0. */
export function tokenLines(e: Partial<RequestLogEntry>): TokenLine[] {
  const n = (v: number | null | undefined) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)
  return [
    { label: 'Prompt', value: n(e.prompt_tokens) },
    { label: 'Read from cache', value: n(e.cached_tokens), partOf: 'prompt' },
    { label: 'Written to cache', value: n(e.cache_write_tokens), partOf: 'prompt' },
    { label: 'Completion', value: n(e.completion_tokens) },
    { label: 'Reasoning', value: n(e.reasoning_tokens), partOf: 'completion' },
    { label: 'Total', value: n(e.total_tokens) },
  ]
}

/** The API a request came by. */
export function ingressLabel(ingress: RequestLogEntry['ingress']): string {
  return ingress === 'messages' ? 'Anthropic messages' : 'OpenAI chat completions'
}
