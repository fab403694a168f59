// Why GaiaRouter refused requests (before any provider): reason codes in words, for the
// refused-by-reason charts. The same words as the request log's reason column
// (helper A's utils/logs.ts `reasonLabel`, built in parallel): once both are merged,
// one of the two should go.

const KNOWN_REASONS: Record<string, string> = {
  invalid_request: 'Invalid request',
  model_not_found: 'Unknown model',
  api_key_revoked: 'Key revoked',
  api_key_expired: 'Key expired',
  invalid_api_key: 'Invalid key',
  organization_suspended: 'Organization suspended',
  no_available_deployment: 'No deployment available',
}

const LIMIT_WHAT: Record<string, string> = {
  requests_per_minute: 'requests per minute',
  tokens_per_minute: 'tokens per minute',
  concurrent_requests: 'requests in flight',
}
const LIMIT_CODE = /^(organization|api_key)_(model_)?((daily|weekly|monthly|total)_(requests|tokens|cost)|requests_per_minute|tokens_per_minute|concurrent_requests)_limit$/

/**
 * A reason code in words: "api_key_monthly_requests_limit" → "Key's monthly requests limit",
 * "model_not_found" → "Unknown model"; unknown codes with spaces for underscores.
 */
export function reasonLabel(code: string): string {
  if (KNOWN_REASONS[code]) return KNOWN_REASONS[code]
  const m = LIMIT_CODE.exec(code)
  if (m) {
    const whose = m[1] === 'organization' ? "Organization's" : "Key's"
    const perModel = m[2] ? 'per-model ' : ''
    const what = m[4] ? `${m[4]} ${m[5]}` : LIMIT_WHAT[m[3]]
    return `${whose} ${perModel}${what} limit`
  }
  const s = code.replace(/_/g, ' ')
  return s.charAt(0).toUpperCase() + s.slice(1)
}
