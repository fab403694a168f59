import { api, type Query } from './client'
import type {
  ApiKey,
  ApiKeyWithSecret,
  AuditEvent,
  CatalogueModel,
  Deleted,
  GroupBy,
  HistoryEvent,
  Limits,
  LimitsPatch,
  ListResponse,
  LoginResponse,
  Me,
  ModelInfo,
  Operator,
  Organization,
  Permission,
  Projection,
  QuarantinedEvent,
  RequestLogEntry,
  Route,
  RouteInput,
  SplitBy,
  StatsResponse,
  Queued,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookInput,
  WebhookWithSecret,
} from './types'

const enc = encodeURIComponent

/** Accepts a list object or a bare array and always returns a list object. */
async function asList<T>(p: Promise<ListResponse<T> | T[]>): Promise<ListResponse<T>> {
  const r = await p
  if (Array.isArray(r)) return { object: 'list', data: r, has_more: false }
  return { ...r, data: r?.data ?? [] }
}

// ---- auth
export const login = (body: { username: string; password: string } | { api_key: string }) =>
  api.post<LoginResponse>('/v1/auth/login', body, { anonymous: true })
export const fetchMe = (token?: string) => api.get<Me>('/v1/auth/me', token ? { token } : undefined)

// ---- organizations
export const listOrganizations = (query: { limit?: number; after?: string } = {}) =>
  api.get<ListResponse<Organization>>('/v1/organizations', { query: { limit: 100, ...query } })

/** Follows the cursor until every organization is loaded (bounded). */
export async function listAllOrganizations(maxPages = 20): Promise<Organization[]> {
  const all: Organization[] = []
  let after: string | undefined
  for (let i = 0; i < maxPages; i++) {
    const page = await listOrganizations({ limit: 100, after })
    all.push(...page.data)
    if (!page.has_more || page.data.length === 0) break
    after = page.data[page.data.length - 1].id
  }
  return all
}

export const getOrganization = (id: string) => api.get<Organization>(`/v1/organizations/${enc(id)}`)
export const createOrganization = (body: { name: string; limits?: Partial<Limits> }) =>
  api.post<Organization>('/v1/organizations', body)
export const updateOrganization = (
  id: string,
  body: { name?: string; limits?: LimitsPatch | null; status?: 'active' | 'suspended'; log_bodies?: boolean },
) => api.patch<Organization>(`/v1/organizations/${enc(id)}`, body)
export const deleteOrganization = (id: string) => api.delete<Deleted>(`/v1/organizations/${enc(id)}`)
export const organizationHistory = (id: string) =>
  asList(api.get<ListResponse<HistoryEvent> | HistoryEvent[]>(`/v1/organizations/${enc(id)}/history`))

// ---- api keys
export const listApiKeys = (query: { organization_id?: string; limit?: number; after?: string } = {}) =>
  api.get<ListResponse<ApiKey>>('/v1/api-keys', { query: { limit: 100, ...query } })

export async function listAllApiKeys(organizationId?: string, maxPages = 20): Promise<ApiKey[]> {
  const all: ApiKey[] = []
  let after: string | undefined
  for (let i = 0; i < maxPages; i++) {
    const page = await listApiKeys({ organization_id: organizationId, limit: 100, after })
    all.push(...page.data)
    if (!page.has_more || page.data.length === 0) break
    after = page.data[page.data.length - 1].id
  }
  return all
}

export interface ApiKeyInput {
  organization_id: string
  name: string
  permission: Permission
  limits?: Partial<Limits>
  expires_at?: string | null
}
export const getApiKey = (id: string) => api.get<ApiKey>(`/v1/api-keys/${enc(id)}`)
export const issueApiKey = (body: ApiKeyInput) => api.post<ApiKeyWithSecret>('/v1/api-keys', body)
/** `limits` is a JSON merge patch: only the limits that change. */
export type ApiKeyUpdate = Partial<Omit<ApiKeyInput, 'organization_id' | 'limits'>> & { limits?: LimitsPatch | null }
export const updateApiKey = (id: string, body: ApiKeyUpdate) =>
  api.patch<ApiKey>(`/v1/api-keys/${enc(id)}`, body)
export const rotateApiKey = (id: string) => api.post<ApiKeyWithSecret>(`/v1/api-keys/${enc(id)}/rotate`)
export const revokeApiKey = (id: string) => api.delete<Deleted>(`/v1/api-keys/${enc(id)}`)
export const apiKeyHistory = (id: string) =>
  asList(api.get<ListResponse<HistoryEvent> | HistoryEvent[]>(`/v1/api-keys/${enc(id)}/history`))

// ---- stats
export type StatsScope = { kind: 'global' } | { kind: 'organization'; id: string } | { kind: 'key'; id: string }

export function statsPath(scope: StatsScope): string {
  switch (scope.kind) {
    case 'organization':
      return `/v1/organizations/${enc(scope.id)}/stats`
    case 'key':
      return `/v1/api-keys/${enc(scope.id)}/stats`
    default:
      return '/v1/stats'
  }
}

export const fetchStats = (scope: StatsScope, from: string, to: string, groupBy: GroupBy, splitBy?: SplitBy) =>
  api.get<StatsResponse>(statsPath(scope), { query: { from, to, group_by: groupBy, split_by: splitBy } })

// ---- catalogue: every model the gateway serves, with prices
export const listCatalogue = () => asList(api.get<ListResponse<CatalogueModel> | CatalogueModel[]>('/v1/catalogue'))

// ---- request log
export interface LogQuery extends Query {
  limit?: number
  after?: string
  organization_id?: string
  api_key_id?: string
  model?: string
  provider?: string
  deployment?: string
  ingress?: 'chat_completions' | 'messages' | ''
  status?: 'success' | 'error' | 'refused' | ''
  error_kind?: string
  from?: string
  to?: string
}
export const listLogs = (query: LogQuery) =>
  asList(api.get<ListResponse<RequestLogEntry> | RequestLogEntry[]>('/v1/logs', { query }))
/** One request of the log, for the detail drawer (404 `request_not_found`). */
export const getLog = (id: string) => api.get<RequestLogEntry>(`/v1/logs/${enc(id)}`)
export const downloadLogsCsv = (query: LogQuery) =>
  api.download('/v1/logs', { query: { ...query, after: undefined, limit: undefined, format: 'csv' } })

// ---- audit
export interface AuditQuery extends Query {
  aggregate_type?: string
  /** The subject: the id of the organization, key, route, … the events are about. */
  aggregate_id?: string
  actor?: string
  from?: string
  to?: string
  limit?: number
  after?: number
}
export const listAudit = (query: AuditQuery) =>
  asList(api.get<ListResponse<AuditEvent> | AuditEvent[]>('/v1/audit', { query }))

// ---- gateway (API key auth)
export const listModels = (token?: string | null) =>
  api.get<ListResponse<ModelInfo>>('/v1/models', token ? { token } : undefined)

// ---- projections
export const listProjections = () => api.get<ListResponse<Projection> | Projection[]>('/v1/projections')
export const rebuildProjection = (name: string) => api.post<unknown>(`/v1/projections/${enc(name)}/rebuild`)
export const listQuarantine = (name: string, query: { limit?: number; before?: number } = {}) =>
  asList(
    api.get<ListResponse<QuarantinedEvent> | QuarantinedEvent[]>(`/v1/projections/${enc(name)}/quarantine`, { query }),
  )

/** Accepts either a list object or a bare array. */
export function listData<T>(res: ListResponse<T> | T[] | undefined | null): T[] {
  if (!res) return []
  return Array.isArray(res) ? res : (res.data ?? [])
}

// ---- operators (dashboard users; only operators may manage them)
export const listOperators = () => asList(api.get<ListResponse<Operator> | Operator[]>('/v1/operators'))
export const createOperator = (body: { username: string; password: string }) =>
  api.post<Operator>('/v1/operators', body)
export const disableOperator = (id: string) => api.post<Operator>(`/v1/operators/${enc(id)}/disable`, {})
export const enableOperator = (id: string) => api.post<Operator>(`/v1/operators/${enc(id)}/enable`, {})
export const deleteOperator = (id: string) => api.delete<Deleted>(`/v1/operators/${enc(id)}`)
/** Ends the operator's sessions; for one's own password `current_password` is required. */
export const setOperatorPassword = (id: string, body: { password: string; current_password?: string }) =>
  api.post<unknown>(`/v1/operators/${enc(id)}/password`, body)
export const endOperatorSessions = (id: string) => api.post<unknown>(`/v1/operators/${enc(id)}/sessions/end`, {})
/** Ends every session of the signed-in operator, on every device. */
export const logoutEverywhere = () => api.post<unknown>('/v1/auth/logout', {})

// ---- routes (operators and admin keys only)
export const listRoutes = (query: { limit?: number; after?: string } = {}) =>
  api.get<ListResponse<Route>>('/v1/routes', { query: { limit: 100, ...query } })

export async function listAllRoutes(maxPages = 20): Promise<Route[]> {
  const all: Route[] = []
  let after: string | undefined
  for (let i = 0; i < maxPages; i++) {
    const page = await listRoutes({ limit: 100, after })
    all.push(...page.data)
    if (!page.has_more || page.data.length === 0) break
    after = page.data[page.data.length - 1].id
  }
  return all
}

export const createRoute = (body: RouteInput) => api.post<Route>('/v1/routes', body)
export const updateRoute = (id: string, body: Partial<RouteInput>) => api.patch<Route>(`/v1/routes/${enc(id)}`, body)
export const deleteRoute = (id: string) => api.delete<Deleted>(`/v1/routes/${enc(id)}`)
export const routeHistory = (id: string) =>
  asList(api.get<ListResponse<HistoryEvent> | HistoryEvent[]>(`/v1/routes/${enc(id)}/history`))

// ---- webhooks (operators and admin keys; an admin key sees its organization's only)
export const listWebhooks = (query: { limit?: number; after?: string } = {}) =>
  api.get<ListResponse<WebhookEndpoint>>('/v1/webhooks', { query: { limit: 100, ...query } })
export const createWebhook = (body: WebhookInput) => api.post<WebhookWithSecret>('/v1/webhooks', body)
export const updateWebhook = (id: string, body: Partial<WebhookInput>) =>
  api.patch<WebhookEndpoint>(`/v1/webhooks/${enc(id)}`, body)
export const deleteWebhook = (id: string) => api.delete<Deleted>(`/v1/webhooks/${enc(id)}`)
export const rotateWebhookSecret = (id: string) =>
  api.post<WebhookWithSecret>(`/v1/webhooks/${enc(id)}/rotate_secret`, {})
export const testWebhook = (id: string) => api.post<Queued>(`/v1/webhooks/${enc(id)}/test`, {})
export const listWebhookDeliveries = (id: string, query: { limit?: number; after?: string } = {}) =>
  api.get<ListResponse<WebhookDelivery>>(`/v1/webhooks/${enc(id)}/deliveries`, { query: { limit: 20, ...query } })
export const redeliverWebhook = (id: string, deliveryId: string) =>
  api.post<Queued>(`/v1/webhooks/${enc(id)}/deliveries/${enc(deliveryId)}/redeliver`, {})
