// Why GaiaRouter refused requests (before any provider): reason codes in words, for the
// refused-by-reason charts.

const PERIOD: Record<string, string> = { daily: 'daily', weekly: 'weekly', monthly: 'monthly', total: 'total' }
const METRIC: Record<string, string> = { requests: 'request', tokens: 'token', cost: 'spend', cost_usd: 'spend' }
const RATE: Record<string, string> = {
  requests_per_minute: 'requests-per-minute',
  tokens_per_minute: 'tokens-per-minute',
  concurrent_requests: 'in-flight',
}
const OTHER: Record<string, string> = {
  invalid_request: 'invalid request',
  model_not_found: 'unknown model',
  api_key_revoked: 'revoked key',
  api_key_expired: 'expired key',
  organization_suspended: 'suspended organization',
  no_available_deployment: 'no deployment available',
}

export interface ReasonInfo {
  /** Whose limit: the key's or the organization's; null when the reason is not a limit. */
  scope: 'key' | 'organization' | null
  /** "monthly request limit", "per-model in-flight limit", "unknown model", … */
  text: string
  /** Whether it is a limit. */
  limit: boolean
}

/** A reason code in words; unknown codes are shown as they are, underscores as spaces. */
export function reasonInfo(code: string): ReasonInfo {
  if (OTHER[code]) return { scope: null, text: OTHER[code], limit: false }
  const m = /^(api_key|organization)_(model_)?(.+)_limit$/.exec(code)
  if (m) {
    const scope = m[1] === 'api_key' ? 'key' : 'organization'
    const rest = m[3]
    const model = m[2] ? 'per-model ' : ''
    const budget = /^(daily|weekly|monthly|total)_(requests|tokens|cost_usd|cost)$/.exec(rest)
    if (budget) return { scope, text: `${model}${PERIOD[budget[1]]} ${METRIC[budget[2]]} limit`, limit: true }
    if (RATE[rest]) return { scope, text: `${model}${RATE[rest]} limit`, limit: true }
    return { scope, text: `${model}${rest.replace(/_/g, ' ')} limit`, limit: true }
  }
  return { scope: null, text: code.replace(/_/g, ' '), limit: false }
}

/** A reason code as a short label for charts and tags: "Key monthly request limit", "Unknown model". */
export function reasonLabel(code: string): string {
  const r = reasonInfo(code)
  const s = r.scope === 'key' ? `Key ${r.text}` : r.scope === 'organization' ? `Organization ${r.text}` : r.text
  return s.charAt(0).toUpperCase() + s.slice(1)
}
