// Types of the GaiaRouter management and gateway API (see /work/shared/DESIGN.md).

export type Permission = 'read' | 'write' | 'admin'

export interface LoginResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
}

export interface Me {
  kind: 'operator' | 'api_key'
  id: string
  name: string
  permission: Permission
  organization_id: string | null
}

export interface ListResponse<T> {
  object: 'list'
  data: T[]
  has_more?: boolean
}

/** Rates: per UTC minute, and requests in flight. `null` = unlimited. */
export interface RateLimits {
  requests_per_minute: number | null
  tokens_per_minute: number | null
  concurrent_requests: number | null
}

export type BudgetPeriod = 'day' | 'week' | 'month' | 'total'
export type BudgetMetric = 'requests' | 'tokens' | 'cost_usd'

/**
 * Limits of an organization or API key; `null` = unlimited. Budgets count in UTC
 * calendar periods (ISO weeks start on Monday; `total` never resets); costs in USD.
 */
export interface Limits extends RateLimits {
  daily_requests: number | null
  daily_tokens: number | null
  daily_cost_usd: number | null
  weekly_requests: number | null
  weekly_tokens: number | null
  weekly_cost_usd: number | null
  monthly_requests: number | null
  monthly_tokens: number | null
  monthly_cost_usd: number | null
  total_requests: number | null
  total_tokens: number | null
  total_cost_usd: number | null
  /** Rates per model id or route name (at most 64). */
  models: Record<string, RateLimits>
  /** Rising percentages 1–100 at which a BudgetThresholdReached event is raised; `null` = 50, 80, 100. */
  alert_thresholds_percent: number[] | null
}

/** The names of the limits that hold one number (everything but models and thresholds). */
export type ScalarLimit = Exclude<keyof Limits, 'models' | 'alert_thresholds_percent'>

/** A JSON merge patch (RFC 7396) of Limits: absent = kept, `null` = removed. */
export type LimitsPatch = { [K in ScalarLimit]?: number | null } & {
  models?: Record<string, Partial<RateLimits> | null>
  alert_thresholds_percent?: number[] | null
}

export interface PeriodUsage {
  /** When the period started (UTC); the Unix epoch for `total`. */
  start: string
  requests: number
  tokens: number
  cost_usd: number
}

/** A budget that is set, with what is used of it now. */
export interface Budget {
  /** The limit's name in `limits`, e.g. `daily_requests`, `monthly_cost_usd`. */
  name: string
  period: BudgetPeriod
  metric: BudgetMetric
  limit: number
  used: number
  remaining: number
  /** May pass 100. */
  percent_used: number
  /** `null` for `total`, which never resets. */
  resets_at: string | null
}

export interface Usage {
  month: string
  requests: number
  tokens: number
  cost_usd: number
  periods?: Partial<Record<BudgetPeriod, PeriodUsage>>
  budgets?: Budget[]
  /** Refusals this UTC month by reason, newest `last_at` first (newer servers). */
  refusals?: RefusalSummary[]
}

export interface RefusalSummary {
  reason: string
  http_status: number
  first_at: string
  last_at: string
  count: number
}

export type OrgStatus = 'active' | 'suspended' | 'deleted'

export interface Organization {
  id: string
  object: 'organization'
  name: string
  status: OrgStatus
  limits: Limits
  usage?: Usage
  created_at: string
  updated_at: string
  version: number
  /** When a request of this organization was last recorded; null if never (older servers omit it). */
  last_used_at?: string | null
  /** Whether request and response bodies are stored for the request log (off by default). */
  log_bodies?: boolean
}

export type KeyStatus = 'active' | 'revoked' | 'expired'

export interface ApiKey {
  id: string
  object: 'api_key'
  organization_id: string
  name: string
  permission: Permission
  limits: Limits
  prefix: string
  status: KeyStatus
  expires_at: string | null
  revoked_at: string | null
  usage?: Usage
  created_at: string
  updated_at: string
  version: number
  /** When this key last made a request; null if never (older servers omit it). */
  last_used_at?: string | null
}

/** The answer to issue / rotate: the key object plus the secret, shown once. */
export interface ApiKeyWithSecret extends ApiKey {
  key: string
}

export interface Deleted {
  id: string
  object: string
  deleted: true
}

export interface LatencyStats {
  avg: number
  min: number
  max: number
  p50: number
  p95: number
  p99: number
}

export interface StatsSummary {
  requests: number
  successes: number
  errors: number
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  cost_usd: number
  latency_ms: LatencyStats
  error_rate: number
  success_rate: number
  /** Requests refused before any provider (not part of `requests`; older servers omit it). */
  refused?: number
}

export type GroupBy = 'day' | 'hour' | 'model' | 'provider' | 'deployment' | 'organization' | 'key'
export type SplitBy = 'model' | 'provider' | 'organization' | 'key'

/** One bucket (day or hour) of a split series. */
export interface SeriesPoint {
  key: string
  requests: number
  refused: number
  errors: number
  cost_usd: number
  cost_nanos?: number
  total_tokens: number
}

/** One series of a `split_by` answer: the 8 largest by cost, the rest under key "other". */
export interface StatsSeries {
  key: string
  label: string
  data: SeriesPoint[]
}

export interface StatsRow extends StatsSummary {
  key: string
  label: string
}

export interface StatsResponse {
  object: 'stats'
  from: string
  to: string
  group_by: GroupBy
  summary: StatsSummary
  data: StatsRow[]
  /** Refused requests by reason code (older servers omit it). */
  refused_by_reason?: Record<string, number>
  /** Present with `split_by`. */
  series?: StatsSeries[]
}

/** Prices in USD per million tokens. */
export interface CataloguePricing {
  input_per_million: number | null
  output_per_million: number | null
  cached_input_per_million: number | null
  cache_write_per_million: number | null
}

/** A model the gateway serves (`GET /v1/catalogue`): a route name or a provider model. */
export interface CatalogueModel {
  id: string
  kind: 'route' | 'model'
  provider: string
  /** null: price unknown (recorded at cost 0). */
  pricing: CataloguePricing | null
  /** false: no price known, so cost limits do not hold for it (a models-file entry without prices). */
  priced?: boolean
}

export interface RequestLogEntry {
  id: string
  created_at: string
  organization_id: string
  api_key_id: string
  model: string
  provider: string
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  cost_usd: number
  latency_ms: number
  time_to_first_token_ms: number | null
  /** `refused`: turned away by GaiaRouter before any provider (limits, invalid, unknown model, …). */
  status: 'success' | 'error' | 'refused'
  http_status: number
  error_kind: string | null
  streamed: boolean
  /** The deployment that served (or last failed); for requests recorded before routes, the provider. */
  deployment: string
  /** Every upstream attempt in order (retries, fallbacks). */
  attempts: RequestAttempt[]
  /** The API the client called: OpenAI's chat completions or Anthropic's messages. */
  ingress?: 'chat_completions' | 'messages'
  /** Prompt tokens read from / written to the provider's cache (part of prompt_tokens). */
  cached_tokens?: number
  cache_write_tokens?: number
  cache_write_1h_tokens?: number
  /** Completion tokens spent on reasoning (part of completion_tokens). */
  reasoning_tokens?: number
  /** Prompt and completion are GaiaRouter's estimate: the provider's usage never came
   * (none reported, or the client left mid-stream). Counted against limits all the same. */
  usage_estimated?: boolean
  /** Current names (null when unknown, e.g. deleted); older servers omit them. */
  organization_name?: string | null
  api_key_name?: string | null
  /** Identical refusals within about a second are one row: how many (1 otherwise). */
  refused_count?: number
  /** The message the client got, for refused requests. */
  error_message?: string | null
  /** When the request finished (for folded refusals: the last one). */
  finished_at?: string | null
  /** Only from `GET /v1/logs/{id}`, when the organization logs bodies: the request as
   * received and the answer as sent (JSON, or a stream's server-sent events). */
  request_body?: string
  request_body_truncated?: boolean
  response_body?: string
  response_body_truncated?: boolean
}

export interface RequestAttempt {
  deployment: string
  provider: string
  /** The upstream model. */
  model: string
  /** The upstream's HTTP status; 0 = no answer (connection error, timeout). */
  http_status: number
  error_kind: string | null
  latency_ms: number
}

export interface Actor {
  type: 'operator' | 'api_key' | 'system'
  id: string | null
  name: string | null
}

export interface HistoryEvent {
  event_type: string
  event_version: string | number
  sequence: number
  recorded_at: string
  actor: Actor | null
  request_id: string | null
  client_ip: string | null
  user_agent: string | null
  payload: Record<string, unknown>
  /** Current name of the organization, key, route, webhook or operator the event is about. */
  subject_name?: string | null
}

export type AggregateType = 'Organization' | 'ApiKey' | 'Operator' | 'Route'

export interface AuditEvent extends HistoryEvent {
  aggregate_type: AggregateType | string
  aggregate_id: string
  position: number
}

export interface ModelInfo {
  id: string
  object: 'model'
  created: number
  owned_by: string
  // Optional pricing, if the server adds it (several shapes accepted; see utils/pricing.ts).
  pricing?: Record<string, unknown>
  [extra: string]: unknown
}

export type ProjectionState = 'running' | 'rebuilding' | 'standby' | 'catching_up'

export interface Projection {
  name: string
  position: number
  lag_events: number
  lag_seconds: number
  state: ProjectionState
  /** Events this projection could not apply and skipped (older servers omit it). */
  quarantined?: number
  last_quarantine_reason?: string | null
}

/** An event a projection could not apply: where it is in the log and why. */
export interface QuarantinedEvent {
  projection: string
  global_position: number
  aggregate_type: string
  aggregate_id: string
  sequence: number
  event_type: string
  event_version: string
  reason: string
  quarantined_at: string
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
}

export interface ChatUsage {
  prompt_tokens: number
  completion_tokens: number
  total_tokens: number
  cost_usd?: number
  [extra: string]: unknown
}

/** A dashboard user (`/v1/operators`). Operators are admins. */
export interface Operator {
  id: string
  object: 'operator'
  username: string
  status: 'active' | 'disabled'
  created_at: string
  updated_at: string
  version: number
}

// ---- routes (model names clients send, mapped to deployments)
export type RoutingStrategy = 'weighted_random' | 'least_in_flight'
export const PROVIDER_TYPES = ['openai', 'anthropic', 'google', 'openrouter', 'echo'] as const

export interface DeploymentPrice {
  input_per_million_usd: number
  cached_input_per_million_usd?: number | null
  output_per_million_usd: number
}

export interface Deployment {
  id: string
  provider: string
  model: string
  base_url: string | null
  /** The credential's NAME (`env:VAR` or a config name); values are never answered. */
  credential: string | null
  credential_set: boolean
  weight: number
  priority: number
  first_byte_timeout_ms: number | null
  total_timeout_ms: number | null
  rpm: number | null
  tpm: number | null
  price: DeploymentPrice | null
  /** What the answering gateway process has seen of it (absent until it served). */
  health?: DeploymentHealth
}

export interface DeploymentHealth {
  cooling_down: boolean
  cooldown_remaining_ms: number | null
  consecutive_failures: number
  in_flight: number
}

export interface Route {
  id: string
  object: 'route'
  name: string
  deployments: Deployment[]
  fallbacks: string[]
  strategy: RoutingStrategy
  max_attempts: number
  cooldown_after_failures: number
  cooldown_seconds: number
  created_at: string
  updated_at: string
  version: number
}

export interface DeploymentInput {
  id?: string
  provider: string
  model: string
  base_url?: string
  credential?: string
  weight?: number
  priority?: number
}

export interface RouteInput {
  name: string
  deployments: DeploymentInput[]
  fallbacks: string[]
  strategy: RoutingStrategy
  max_attempts: number
  cooldown_after_failures: number
  cooldown_seconds: number
}

// ---- webhooks (operators: every endpoint; admin keys: their organization's)
export const WEBHOOK_EVENT_TYPES = [
  'BudgetThresholdReached',
  'ApiKeyIssued',
  'ApiKeySecretRotated',
  'ApiKeyRevoked',
  'OrganizationSuspended',
  'OrganizationReactivated',
  'RouteCreated',
  'RouteUpdated',
  'RouteDeleted',
  'DeploymentCooledDown',
] as const
/** Concern no organization: only gateway-wide endpoints (made by operators) get them. */
export const GATEWAY_WEBHOOK_EVENT_TYPES = ['RouteCreated', 'RouteUpdated', 'RouteDeleted', 'DeploymentCooledDown'] as const

export interface WebhookEndpoint {
  id: string
  object: 'webhook_endpoint'
  /** null: gateway-wide, receives every subscribed event. */
  organization_id: string | null
  url: string
  description: string | null
  event_types: string[]
  enabled: boolean
  created_at: string
  updated_at: string
  version: number
}

export interface WebhookWithSecret extends WebhookEndpoint {
  /** Shown once (create, rotate). */
  secret: string
}

export interface WebhookInput {
  url: string
  description?: string | null
  event_types: string[]
  enabled?: boolean
  organization_id?: string | null
}

export interface WebhookAttempt {
  attempt: number
  attempted_at: string
  status_code: number | null
  latency_ms: number
  error: string | null
}

export interface WebhookDelivery {
  id: string
  object: 'webhook_delivery'
  endpoint_id: string
  message_id: string
  event_type: string
  status: 'pending' | 'delivered' | 'failed'
  next_attempt_at: string | null
  created_at: string
  delivered_at: string | null
  last_status: number | null
  last_error: string | null
  payload: unknown
  attempts: WebhookAttempt[]
}

export interface Queued {
  delivery_id: string
  object: 'webhook_delivery'
  status: 'pending'
}
