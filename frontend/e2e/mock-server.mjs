// A small in-memory stand-in for the GaiaRouter API (the contract the dashboard uses),
// serving dist/ too. For developing the dashboard and trying e2e/run.mjs without the
// Rust server:  node e2e/mock-server.mjs [port]   (admin / admin)
import http from 'node:http'
import fs from 'node:fs'
import path from 'node:path'
import crypto from 'node:crypto'
import { fileURLToPath } from 'node:url'

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist')
const port = Number(process.argv[2] ?? process.env.PORT ?? 8080)
const uuid = () => crypto.randomUUID()
const now = () => new Date().toISOString()

const sessions = new Map() // token -> identity
const orgs = new Map()
const keys = new Map() // id -> key (with secret)
const events = [] // audit
const requests = []
/** Stored request and response bodies by request id (organizations with log_bodies), as GET /v1/logs/{id} adds them. */
const bodies = new Map()
const projections = [
  { name: 'usage_rollups', position: 0, lag_events: 0, lag_seconds: 0, state: 'running' },
  { name: 'request_log', position: 0, lag_events: 0, lag_seconds: 0, state: 'running' },
]
const operator = { kind: 'operator', id: uuid(), name: 'admin', permission: 'admin', organization_id: null }
// Limits as the API has them: budgets per period and metric, rates, per-model rates, alert thresholds.
const PERIODS = { day: 'daily', week: 'weekly', month: 'monthly', total: 'total' }
const METRICS = ['requests', 'tokens', 'cost_usd']
const RATES = ['requests_per_minute', 'tokens_per_minute', 'concurrent_requests']
const rates0 = () => Object.fromEntries(RATES.map((r) => [r, null]))
const limits0 = () => ({
  ...Object.fromEntries(Object.values(PERIODS).flatMap((p) => METRICS.map((m) => [`${p}_${m}`, null]))),
  ...rates0(),
  models: {},
  alert_thresholds_percent: null,
})
/** RFC 7396: a member present replaces, null removes, absent keeps; objects merge member by member. */
function mergePatch(target, patch) {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}
function fullLimits(l) {
  const out = { ...limits0(), ...(l ?? {}) }
  out.models = Object.fromEntries(Object.entries(out.models ?? {}).map(([m, r]) => [m, { ...rates0(), ...r }]))
  return out
}
/** Applies a PATCH's `limits` (a merge patch; `null` removes all limits). */
const patchLimits = (current, patch) => (patch === null ? limits0() : fullLimits(mergePatch(current, patch)))
const month = () => now().slice(0, 7)

/** The current UTC window of a period: [start, end); end null for total. */
function windowOf(period, at = new Date()) {
  const d = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()))
  if (period === 'day') return [d, new Date(d.getTime() + 86_400_000)]
  if (period === 'week') {
    const monday = new Date(d.getTime() - ((d.getUTCDay() + 6) % 7) * 86_400_000)
    return [monday, new Date(monday.getTime() + 7 * 86_400_000)]
  }
  if (period === 'month') return [new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)), new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1))]
  return [new Date(0), null]
}

/**
 * Every recorded request, refused ones included. The log's own refusals (kept apart in
 * `refusals` where the request-log mock defines it) count as well.
 */
// eslint-disable-next-line no-undef
const allRows = () => (typeof refusals === 'undefined' ? requests : [...requests, ...refusals])

/** Refusals of the current UTC month by reason, newest last_at first (usage.refusals). */
function usageRefusals(filter) {
  const [start] = windowOf('month')
  const groups = new Map()
  for (const r of allRows()) {
    if (r.status !== 'refused' || !filter(r) || new Date(r.created_at) < start) continue
    const g = groups.get(r.error_kind) ?? { reason: r.error_kind, http_status: r.http_status, first_at: r.created_at, last_at: r.finished_at, count: 0 }
    if (r.created_at < g.first_at) g.first_at = r.created_at
    if (r.finished_at > g.last_at) g.last_at = r.finished_at
    g.count += r.refused_count
    groups.set(r.error_kind, g)
  }
  return [...groups.values()].sort((a, b) => b.last_at.localeCompare(a.last_at))
}
/** Gives an organization or key a `last_used_at` that follows its recorded requests. */
function withLastUse(x, mine) {
  Object.defineProperty(x, 'last_used_at', { enumerable: true, get: () => lastUsed(mine) })
  return x
}
const lastUsed = (filter) => allRows().filter(filter).reduce((t, r) => ((r.finished_at ?? r.created_at) > t ? r.finished_at ?? r.created_at : t), '') || null

function usageOf(filter, limits) {
  const served = (r) => r.status !== 'refused'
  const counts = (rs) => ({ requests: rs.filter(served).length, tokens: rs.reduce((s, r) => s + r.total_tokens, 0), cost_usd: rs.reduce((s, r) => s + r.cost_usd, 0) })
  const periods = {}
  for (const period of Object.keys(PERIODS)) {
    const [start] = windowOf(period)
    periods[period] = { start: start.toISOString(), ...counts(allRows().filter((r) => filter(r) && new Date(r.created_at) >= start)) }
  }
  const budgets = []
  for (const [period, prefix] of Object.entries(PERIODS)) {
    for (const metric of METRICS) {
      const limit = limits[`${prefix}_${metric}`]
      if (limit === null || limit === undefined) continue
      const used = periods[period][metric]
      const percent = limit > 0 ? (used * 100) / limit : 100
      const end = windowOf(period)[1]
      budgets.push({ name: `${prefix}_${metric}`, period, metric, limit, used, remaining: Math.max(0, limit - used), percent_used: Math.round(percent * 10) / 10, resets_at: end ? end.toISOString() : null })
    }
  }
  return { month: month(), ...periods.month, periods: Object.fromEntries(Object.entries(periods)), budgets, refusals: usageRefusals(filter) }
}
const orgView = (o) => ({ ...o, usage: { ...usageOf((r) => r.organization_id === o.id, o.limits), refusals: refusalsOf((r) => r.organization_id === o.id) } })
function keyView(k) {
  const { secret, ...rest } = k
  return { ...rest, usage: { ...usageOf((r) => r.api_key_id === k.id, k.limits), refusals: refusalsOf((r) => r.api_key_id === k.id) } }
}
/** usage.refusals: this UTC month's refusals by reason, newest last_at first. */
function refusalsOf(filter) {
  const [start] = windowOf('month')
  const by = new Map()
  for (const r of refusals) {
    if (!filter(r) || new Date(r.created_at) < start) continue
    const k = `${r.error_kind}/${r.http_status}`
    const g = by.get(k) ?? { reason: r.error_kind, http_status: r.http_status, first_at: r.created_at, last_at: r.finished_at, count: 0 }
    if (r.created_at < g.first_at) g.first_at = r.created_at
    if (r.finished_at > g.last_at) g.last_at = r.finished_at
    g.count += r.refused_count
    by.set(k, g)
  }
  return [...by.values()].sort((a, b) => (a.last_at < b.last_at ? 1 : -1))
}
let position = 0
function record(type, aggregate_type, aggregate_id, payload, actor, req) {
  const seq = events.filter((e) => e.aggregate_id === aggregate_id).length + 1
  events.push({
    event_type: type, event_version: 1, sequence: seq, recorded_at: now(), position: ++position,
    actor: { type: actor.kind, id: actor.id, name: actor.name }, request_id: uuid(),
    client_ip: req.socket.remoteAddress, user_agent: req.headers['user-agent'] ?? null,
    payload, aggregate_type, aggregate_id,
  })
  for (const p of projections) p.position = position
}

// ---- request log (refusals, names) --------------------------------------------------------
/** Requests GaiaRouter turned away before any provider; kept apart from `requests` (stats count them as `refused`, not requests). */
const refusals = []
const REFUSAL_MESSAGES = {
  model_not_found: (m) => `The model '${m}' does not exist or you do not have access to it.`,
  api_key_monthly_requests_limit: () => 'This API key has used its monthly requests limit; it resets at the start of next month (UTC).',
  organization_requests_per_minute_limit: () => 'The organization is over its requests-per-minute limit; retry after a minute.',
  api_key_revoked: () => 'This API key was revoked.',
  invalid_request: () => "'messages' must not be empty.",
}
/** Records a refusal; identical ones of one key within a second fold into one row (refused_count). */
function refuse(k, model, httpStatus, kind, at = new Date()) {
  const last = refusals.find((r) => r.api_key_id === k.id)
  const t = at.toISOString()
  if (last && last.model === model && last.error_kind === kind && last.http_status === httpStatus && at - new Date(last.finished_at) < 1000) {
    last.refused_count++
    last.finished_at = t
    return last
  }
  const r = {
    id: uuid(), created_at: t, finished_at: t, organization_id: k.organization_id, api_key_id: k.id, model, provider: '', deployment: '',
    prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0, latency_ms: 0, time_to_first_token_ms: null,
    status: 'refused', http_status: httpStatus, error_kind: kind, error_message: (REFUSAL_MESSAGES[kind] ?? (() => kind))(model),
    streamed: false, attempts: [], ingress: 'chat_completions', refused_count: 1,
  }
  refusals.unshift(r)
  return r
}
/** The mock refuses models named `no-such-…` as the real server refuses unknown models (404 model_not_found). */
async function refusedChat(req, res) {
  const me = identify(req)
  if (!me || me.kind !== 'api_key') return false
  const b = await body(req)
  if (!String(b.model ?? '').startsWith('no-such-')) return false
  refuse(me.key, b.model, 404, 'model_not_found')
  err(res, 404, REFUSAL_MESSAGES.model_not_found(b.model), 'invalid_request_error', 'model_not_found')
  return true
}
/** A log entry as the API answers it: current names, defaults for older rows. */
const logView = (r) => ({
  refused_count: 1, error_message: null, finished_at: r.created_at, ...r,
  organization_name: orgs.get(r.organization_id)?.name ?? null,
  api_key_name: keys.get(r.api_key_id)?.name ?? null,
})
const allLogs = () => [...requests, ...refusals].sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0))
/** The name of what an audit event is about, as it is now. */
function subjectName(e) {
  if (e.aggregate_type === 'Organization') return orgs.get(e.aggregate_id)?.name ?? null
  if (e.aggregate_type === 'ApiKey') return keys.get(e.aggregate_id)?.name ?? null
  if (e.aggregate_type === 'Operator') return e.aggregate_id === operator.id ? operator.name : null
  return e.payload?.name ?? null
}
const auditView = (e) => ({ ...e, subject_name: subjectName(e) })

/** Seed: an organization with a busy key over its limit (a refusal flood), a failover, and a key since deleted. */
function seed() {
  const at = (minutesAgo) => new Date(Date.now() - minutesAgo * 60_000)
  const o = { id: uuid(), object: 'organization', name: 'Acme Analytics', status: 'active', limits: fullLimits({ monthly_requests: 500 }), log_bodies: false, created_at: at(600).toISOString(), updated_at: at(600).toISOString(), version: 1 }
  orgs.set(o.id, o)
  const seedActor = { kind: 'operator', id: operator.id, name: operator.name }
  const seedReq = { socket: { remoteAddress: '10.0.0.7' }, headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' } }
  record('OrganizationCreated', 'Organization', o.id, { name: o.name, limits: { monthly_requests: 500, monthly_cost: 25_000_000_000 } }, seedActor, seedReq)
  const mk = (name) => {
    const k = { id: uuid(), object: 'api_key', organization_id: o.id, name, permission: 'write', limits: fullLimits(name === 'reporting-batch' ? { monthly_requests: 40 } : {}), status: 'active', expires_at: null, revoked_at: null, created_at: at(590).toISOString(), updated_at: at(590).toISOString(), version: 1 }
    newSecret(k)
    keys.set(k.id, k)
    record('ApiKeyIssued', 'ApiKey', k.id, { organization_id: o.id, name, permission: 'write', limits: { monthly_requests: k.limits.monthly_requests, daily_cost: 2_500_000_000 }, prefix: k.prefix, expires_at: null, secret_hash: 'sha256:…' }, seedActor, seedReq)
    return k
  }
  const batch = mk('reporting-batch')
  const web = mk('web-frontend')
  const gone = mk('old-integration')
  record('ApiKeyLimitsChanged', 'ApiKey', batch.id, { limits: { monthly_requests: 40, monthly_cost: 5_000_000_000 } }, seedActor, seedReq)
  const served = (k, minutesAgo, extra = {}) => {
    const created = at(minutesAgo)
    const r = {
      id: uuid(), created_at: created.toISOString(), finished_at: new Date(created.getTime() + 840).toISOString(), organization_id: o.id, api_key_id: k.id,
      model: 'echo/test', provider: 'echo', prompt_tokens: 1200, completion_tokens: 310, total_tokens: 1510, cost_usd: 0.00421, latency_ms: 840,
      time_to_first_token_ms: 212, status: 'success', http_status: 200, error_kind: null, streamed: true, deployment: 'echo', ingress: 'chat_completions',
      cached_tokens: 800, cache_write_tokens: 0, reasoning_tokens: 64,
      attempts: [{ deployment: 'echo', provider: 'echo', model: 'echo-1', http_status: 200, error_kind: null, latency_ms: 840 }], ...extra,
    }
    requests.push(r)
  }
  for (let i = 0; i < 6; i++) served(web, 50 - i * 5)
  served(batch, 44, {
    model: 'smart', deployment: 'smart/west', provider: 'openai', latency_ms: 1930,
    attempts: [
      { deployment: 'smart/east', provider: 'openai', model: 'gpt-4o-mini', http_status: 0, error_kind: 'connect_error', latency_ms: 30 },
      { deployment: 'smart/west', provider: 'openai', model: 'gpt-4o-mini', http_status: 200, error_kind: null, latency_ms: 1900 },
    ],
  })
  served(gone, 42, { status: 'error', http_status: 502, error_kind: 'upstream_error', prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0, streamed: false,
    attempts: [{ deployment: 'echo', provider: 'echo', model: 'echo-1', http_status: 500, error_kind: 'upstream_error', latency_ms: 840 }] })
  requests.sort((a, b) => (a.created_at < b.created_at ? 1 : -1))
  const flood = at(30)
  for (let i = 0; i < 37; i++) refuse(batch, 'echo/test', 429, 'api_key_monthly_requests_limit', new Date(flood.getTime() + i * 20))
  refuse(web, 'gpt-5-preview', 404, 'model_not_found', at(20))
  refuse(web, 'echo/test', 400, 'invalid_request', at(12))
  refuse(gone, 'echo/test', 401, 'api_key_revoked', at(8))
  keys.delete(gone.id) // its name is gone: the log shows "deleted key · …"
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers })
  res.end(body === undefined ? '' : JSON.stringify(body))
}
const err = (res, status, message, type = 'invalid_request_error', code = null) => send(res, status, { error: { message, type, code } })

function identify(req) {
  const h = req.headers.authorization ?? ''
  const t = h.startsWith('Bearer ') ? h.slice(7) : null
  if (!t) return null
  if (sessions.has(t)) return sessions.get(t)
  const k = [...keys.values()].find((k) => k.secret === t && k.status === 'active')
  return k ? { kind: 'api_key', id: k.id, name: k.name, permission: k.permission, organization_id: k.organization_id, key: k } : null
}

async function body(req) {
  if (req.parsedBody !== undefined) return req.parsedBody
  let s = ''
  for await (const c of req) s += c
  req.parsedBody = s ? JSON.parse(s) : {}
  return req.parsedBody
}

function newSecret(k) {
  k.prefix = 'gr-' + crypto.randomBytes(4).toString('hex')
  k.secret = `${k.prefix}-${crypto.randomBytes(16).toString('hex')}`
}

function summarize(all) {
  const rs = all.filter((r) => r.status !== 'refused')
  const refused = all.reduce((s, r) => s + (r.status === 'refused' ? r.refused_count : 0), 0)
  const lat = rs.map((r) => r.latency_ms).sort((a, b) => a - b)
  const pct = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0)
  const n = rs.length
  const errors = rs.filter((r) => r.status === 'error').length
  return {
    requests: n, successes: n - errors, errors, refused,
    prompt_tokens: rs.reduce((s, r) => s + r.prompt_tokens, 0),
    completion_tokens: rs.reduce((s, r) => s + r.completion_tokens, 0),
    total_tokens: rs.reduce((s, r) => s + r.total_tokens, 0),
    cost_usd: rs.reduce((s, r) => s + r.cost_usd, 0),
    latency_ms: { avg: n ? lat.reduce((a, b) => a + b, 0) / n : 0, min: lat[0] ?? 0, max: lat[n - 1] ?? 0, p50: pct(0.5), p95: pct(0.95), p99: pct(0.99) },
    error_rate: n ? errors / n : 0, success_rate: n ? (n - errors) / n : 0,
  }
}

function daysOf(from, to) {
  const out = []
  for (let d = new Date(`${from}T00:00:00Z`); d <= new Date(`${to}T00:00:00Z`) && out.length < 3660; d = new Date(d.getTime() + 86_400_000)) out.push(d.toISOString().slice(0, 10))
  return out
}
const hourOf = (r) => `${r.created_at.slice(0, 13)}:00:00Z`

function stats(res, url, scope) {
  const from = url.searchParams.get('from'), to = url.searchParams.get('to'), g = url.searchParams.get('group_by') ?? 'day'
  const split = url.searchParams.get('split_by')
  const rs = allRows().filter((r) => scope(r) && r.created_at.slice(0, 10) >= from && r.created_at.slice(0, 10) <= to)
  const keyOf = { day: (r) => r.created_at.slice(0, 10), hour: hourOf, model: (r) => r.model, provider: (r) => r.provider, organization: (r) => r.organization_id, key: (r) => r.api_key_id, deployment: (r) => r.deployment }
  if (!keyOf[g]) return err(res, 400, 'bad group_by', 'invalid_request_error', 'invalid_group_by')
  const days = daysOf(from, to)
  if (g === 'hour' && days.length > 2) return err(res, 400, 'group_by=hour covers at most 2 days', 'invalid_request_error', 'invalid_group_by')
  if (split && !['day', 'hour'].includes(g)) return err(res, 400, 'split_by needs group_by day or hour', 'invalid_request_error', 'invalid_split_by')
  if (split && !keyOf[split === 'key' ? 'key' : split]) return err(res, 400, 'bad split_by', 'invalid_request_error', 'invalid_split_by')
  // Time buckets are zero-filled, as the server does.
  const buckets = g === 'day' ? days : g === 'hour' ? days.flatMap((d) => Array.from({ length: 24 }, (_, h) => `${d}T${String(h).padStart(2, '0')}:00:00Z`)) : null
  const groups = new Map((buckets ?? []).map((b) => [b, []]))
  for (const r of rs) groups.set(keyOf[g](r), [...(groups.get(keyOf[g](r)) ?? []), r])
  const label = (dim, k) => (dim === 'organization' ? orgs.get(k)?.name : dim === 'key' ? keys.get(k)?.name : k) ?? k
  const byReason = {}
  for (const r of rs) if (r.status === 'refused') byReason[r.error_kind] = (byReason[r.error_kind] ?? 0) + r.refused_count
  const body = { object: 'stats', from, to, group_by: g, summary: summarize(rs), refused_by_reason: byReason, data: [...groups].map(([k, v]) => ({ key: k, label: label(g, k), ...summarize(v) })) }
  if (split) {
    const point = (b, v) => { const x = summarize(v); return { key: b, requests: x.requests, refused: x.refused, errors: x.errors, cost_usd: x.cost_usd, cost_nanos: Math.round(x.cost_usd * 1e9), total_tokens: x.total_tokens } }
    const bySplit = new Map()
    for (const r of rs) bySplit.set(keyOf[split](r), [...(bySplit.get(keyOf[split](r)) ?? []), r])
    const ranked = [...bySplit].sort((a, b) => summarize(b[1]).cost_usd - summarize(a[1]).cost_usd || b[1].length - a[1].length)
    const top = ranked.slice(0, 8), rest = ranked.slice(8).flatMap(([, v]) => v)
    const seriesOf = (key, lbl, v) => ({ key, label: lbl, data: buckets.map((b) => point(b, v.filter((r) => keyOf[g](r) === b))) })
    body.series = top.map(([k, v]) => seriesOf(k, label(split, k), v))
    if (rest.length) body.series.push(seriesOf('other', 'Other', rest))
  }
  send(res, 200, body)
}

function page(res, items, url, cursorOf) {
  const limit = Number(url.searchParams.get('limit') ?? 100)
  const after = url.searchParams.get('after')
  let start = 0
  if (after) start = items.findIndex((i) => String(cursorOf(i)) === after) + 1
  const data = items.slice(start, start + limit)
  send(res, 200, { object: 'list', data, has_more: start + limit < items.length })
}

// The models this gateway serves, with prices (USD per million tokens; null = unknown).
const catalogue = [
  { id: 'echo/test', kind: 'model', provider: 'echo', pricing: { input_per_million: 0.5, output_per_million: 1.5, cached_input_per_million: 0.05, cache_write_per_million: 0.625 } },
  { id: 'echo/slow', kind: 'model', provider: 'echo', pricing: null },
  { id: 'support-bot', kind: 'route', provider: 'openai', pricing: { input_per_million: 0.15, output_per_million: 0.6, cached_input_per_million: 0.075, cache_write_per_million: null } },
]

/**
 * Records a request GaiaRouter turned away before any provider; identical refusals of one
 * key within a second fold into one row (refused_count), as the server does.
 */
function refuseRequest(res, k, model, status, reason, message, type = 'invalid_request_error') {
  const t = now()
  // eslint-disable-next-line no-undef
  const rows = typeof refusals === 'undefined' ? requests : refusals
  const last = rows.find((r) => r.api_key_id === k.id)
  if (last && last.status === 'refused' && last.model === model && last.error_kind === reason && last.http_status === status && Date.now() - Date.parse(last.finished_at) < 1000) {
    last.refused_count++
    last.finished_at = t
  } else {
    rows.unshift({
      id: uuid(), created_at: t, finished_at: t, organization_id: k.organization_id, api_key_id: k.id, model, provider: '', deployment: '',
      prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0, latency_ms: 0, time_to_first_token_ms: null,
      status: 'refused', http_status: status, error_kind: reason, error_message: message, refused_count: 1, streamed: false, attempts: [], ingress: 'chat_completions',
    })
  }
  return err(res, status, message, type, reason)
}

/** The first limit the request would break, as [reason, message], or null. */
function overLimit(k) {
  const o = orgs.get(k.organization_id)
  for (const [scope, who, l, mine] of [['api_key', 'API key', k.limits, (r) => r.api_key_id === k.id], ['organization', 'organization', o.limits, (r) => r.organization_id === o.id]]) {
    const served = requests.filter((r) => r.status !== 'refused' && mine(r))
    if (l.requests_per_minute != null && served.filter((r) => Date.now() - Date.parse(r.created_at) < 60_000).length >= l.requests_per_minute) {
      return [`${scope}_requests_per_minute_limit`, `The ${who} is over its limit of ${l.requests_per_minute} requests per minute`]
    }
    for (const [period, prefix] of Object.entries(PERIODS)) {
      const limit = l[`${prefix}_requests`]
      if (limit == null) continue
      const [start] = windowOf(period)
      if (served.filter((r) => new Date(r.created_at) >= start).length >= limit) return [`${scope}_${prefix}_requests_limit`, `The ${who} reached its ${prefix} limit of ${limit} requests`]
    }
  }
  return null
}

async function chat(req, res) {
  let me = identify(req)
  // An operator's session may run a request as one of the keys (the playground's key picker).
  const asKey = req.headers['x-gaiarouter-key-id']
  if (me?.kind === 'operator' && asKey) {
    const k = keys.get(String(asKey))
    if (!k) return err(res, 404, 'API key not found', 'invalid_request_error', 'api_key_not_found')
    me = { kind: 'api_key', id: k.id, name: k.name, permission: k.permission, organization_id: k.organization_id, key: k }
  }
  const h = req.headers.authorization ?? ''
  const known = !me ? [...keys.values()].find((k) => h === `Bearer ${k.secret}`) : null
  const b = await body(req)
  if (known) return refuseRequest(res, known, b.model ?? '', 401, known.status === 'expired' ? 'api_key_expired' : 'api_key_revoked', 'Invalid or revoked API key', 'authentication_error')
  if (!me || me.kind !== 'api_key') return err(res, 401, 'Invalid or revoked API key', 'authentication_error', 'invalid_api_key')
  const k = me.key
  if (me.key.status !== 'active') return refuseRequest(res, k, b.model ?? '', 401, 'api_key_revoked', 'Invalid or revoked API key', 'authentication_error')
  if (orgs.get(k.organization_id)?.status !== 'active') return refuseRequest(res, k, b.model ?? '', 403, 'organization_suspended', 'The organization is suspended', 'permission_error')
  if (!b.model || !Array.isArray(b.messages)) return refuseRequest(res, k, b.model ?? '', 400, 'invalid_request', '`model` and `messages` are required')
  const priced = catalogue.find((c) => c.id === b.model)
  if (!priced) return refuseRequest(res, k, b.model, 404, 'model_not_found', `The model \`${b.model}\` does not exist`)
  const over = overLimit(k)
  if (over) return refuseRequest(res, k, b.model, 429, over[0], over[1], 'rate_limit_error')
  const started = Date.now()
  const last = [...(b.messages ?? [])].reverse().find((m) => m.role === 'user')?.content ?? ''
  const words = `Echo: ${last}`.split(/(\s+)/)
  const prompt_tokens = (b.messages ?? []).reduce((s, m) => s + Math.ceil(m.content.length / 4), 0)
  const completion_tokens = Math.ceil(words.join('').length / 4)
  const requestId = uuid()
  const finish = (ttft, answered) => {
    const r = {
      id: requestId, created_at: new Date(started).toISOString(), finished_at: now(), organization_id: me.organization_id, api_key_id: me.id, model: b.model, provider: priced.provider,
      prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens, latency_ms: Date.now() - started,
      cost_usd: priced.pricing ? (prompt_tokens * priced.pricing.input_per_million + completion_tokens * priced.pricing.output_per_million) / 1e6 : 0,
      error_message: null, refused_count: 1, ingress: 'chat_completions',
      time_to_first_token_ms: ttft, status: 'success', http_status: 200, error_kind: null, streamed: !!b.stream,
      deployment: b.model.split('/')[0],
    }
    r.attempts = [{ deployment: r.deployment, provider: r.provider, model: b.model, http_status: 200, error_kind: null, latency_ms: r.latency_ms }]
    requests.unshift(r)
    if (orgs.get(r.organization_id)?.log_bodies) {
      bodies.set(r.id, { request_body: JSON.stringify(b), request_body_truncated: false, response_body: answered, response_body_truncated: false })
    }
  }
  if (!b.stream) {
    const answer = { id: 'c', object: 'chat.completion', model: b.model, choices: [{ index: 0, message: { role: 'assistant', content: words.join('') }, finish_reason: 'stop' }], usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens } }
    finish(null, JSON.stringify(answer))
    return send(res, 200, answer, { 'x-gaiarouter-request-id': requestId })
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'x-gaiarouter-request-id': requestId })
  const id = 'chatcmpl-' + uuid()
  let ttft = null
  for (const w of words) {
    await new Promise((r) => setTimeout(r, 15))
    ttft ??= Date.now() - started
    res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', model: b.model, choices: [{ index: 0, delta: { content: w } }] })}\n\n`)
  }
  res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', model: b.model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`)
  res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', model: b.model, choices: [], usage: { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens } })}\n\n`)
  finish(ttft, `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', model: b.model, choices: [{ index: 0, delta: { content: words.join('') } }] })}\n\ndata: [DONE]\n\n`)
  res.end('data: [DONE]\n\n')
}

async function api(req, res, url) {
  const p = url.pathname
  const m = req.method
  if (p === '/v1/auth/login' && m === 'POST') {
    const b = await body(req)
    let who = null
    if (b.username === (process.env.GAIAROUTER_ADMIN_USERNAME ?? 'admin') && b.password === (process.env.GAIAROUTER_ADMIN_PASSWORD ?? 'admin')) who = operator
    if (b.api_key) { const k = [...keys.values()].find((k) => k.secret === b.api_key && k.status === 'active'); if (k) who = { kind: 'api_key', id: k.id, name: k.name, permission: k.permission, organization_id: k.organization_id } }
    if (!who) return err(res, 401, 'Invalid credentials', 'authentication_error')
    const t = crypto.randomBytes(24).toString('hex')
    sessions.set(t, who)
    return send(res, 200, { access_token: t, token_type: 'Bearer', expires_in: 3600 })
  }
  if (p === '/v1/chat/completions' && m === 'POST' && (await refusedChat(req, res))) return
  if (p === '/v1/chat/completions' && m === 'POST') return chat(req, res)
  const me = identify(req)
  if (!me) return err(res, 401, 'Missing or invalid token', 'authentication_error')
  const admin = me.permission === 'admin'
  if (p === '/v1/auth/me') { const { key, ...rest } = me; return send(res, 200, rest) }
  if (p === '/v1/models') return send(res, 200, { object: 'list', data: catalogue.map((c) => ({ id: c.id, object: 'model', created: 0, owned_by: c.provider })) })
  if (p === '/v1/catalogue' && m === 'GET') return send(res, 200, { object: 'list', data: catalogue })
  if (p === '/v1/stats') return stats(res, url, (r) => admin || r.organization_id === me.organization_id)
  if (p === '/v1/projections' && m === 'GET') return send(res, 200, { object: 'list', data: projections })
  let mm
  if ((mm = /^\/v1\/projections\/([^/]+)\/rebuild$/.exec(p)) && m === 'POST') {
    const pr = projections.find((x) => x.name === mm[1])
    if (!pr) return err(res, 404, 'no such projection')
    pr.state = 'rebuilding'; pr.lag_events = position; pr.position = 0
    const tick = setInterval(() => { pr.position = Math.min(position, pr.position + Math.max(1, Math.ceil(position / 4))); pr.lag_events = position - pr.position; if (!pr.lag_events) { pr.state = 'running'; clearInterval(tick) } }, 700)
    return send(res, 202, { name: pr.name, state: 'rebuilding' })
  }
  if (p === '/v1/organizations' && m === 'GET') return page(res, [...orgs.values()].filter((o) => o.status !== 'deleted' && (admin || o.id === me.organization_id)).map(orgView), url, (o) => o.id)
  if (p === '/v1/organizations' && m === 'POST') {
    if (!admin) return err(res, 403, 'Only admins manage organizations', 'permission_error')
    const b = await body(req)
    if (!b.name?.trim()) return err(res, 422, 'name must not be empty')
    const o = { id: uuid(), object: 'organization', name: b.name, status: 'active', limits: fullLimits(b.limits), log_bodies: false, created_at: now(), updated_at: now(), version: 1 }
    withLastUse(o, (r) => r.organization_id === o.id)
    orgs.set(o.id, o)
    record('OrganizationCreated', 'Organization', o.id, { name: o.name, limits: o.limits }, me, req)
    return send(res, 201, orgView(o))
  }
  if ((mm = /^\/v1\/organizations\/([^/]+)(\/stats|\/history)?$/.exec(p))) {
    const o = orgs.get(mm[1])
    if (!o || (!admin && o.id !== me.organization_id)) return err(res, 404, 'Organization not found')
    if (mm[2] === '/stats') return stats(res, url, (r) => r.organization_id === o.id)
    if (mm[2] === '/history') return send(res, 200, { object: 'list', data: events.filter((e) => e.aggregate_id === o.id).map(auditView).map(({ position, aggregate_type, aggregate_id, ...e }) => e) })
    if (m === 'GET') return send(res, 200, orgView(o))
    if (!admin) return err(res, 403, 'Only admins manage organizations', 'permission_error')
    if (m === 'PATCH') {
      const b = await body(req)
      if (b.name && b.name !== o.name) { o.name = b.name; record('OrganizationRenamed', 'Organization', o.id, { name: o.name }, me, req) }
      if (b.limits !== undefined) { o.limits = patchLimits(o.limits, b.limits); record('OrganizationLimitsChanged', 'Organization', o.id, { limits: o.limits }, me, req) }
      if (b.log_bodies !== undefined && !!b.log_bodies !== !!o.log_bodies) { o.log_bodies = !!b.log_bodies; record('OrganizationBodyLoggingChanged', 'Organization', o.id, { enabled: o.log_bodies }, me, req) }
      if (b.status && b.status !== o.status) { o.status = b.status; record(b.status === 'suspended' ? 'OrganizationSuspended' : 'OrganizationReactivated', 'Organization', o.id, {}, me, req) }
      o.version++; o.updated_at = now()
      return send(res, 200, orgView(o))
    }
    if (m === 'DELETE') { o.status = 'deleted'; record('OrganizationDeleted', 'Organization', o.id, {}, me, req); return send(res, 200, { id: o.id, object: 'organization', deleted: true }) }
  }
  if (p === '/v1/api-keys' && m === 'GET') {
    const org = url.searchParams.get('organization_id')
    return page(res, [...keys.values()].filter((k) => (admin || k.organization_id === me.organization_id) && (!org || k.organization_id === org)).reverse().map(keyView), url, (k) => k.id)
  }
  if (p === '/v1/api-keys' && m === 'POST') {
    const b = await body(req)
    if (!admin && !(me.permission === 'write' && b.organization_id === me.organization_id)) return err(res, 403, 'Not allowed', 'permission_error')
    if (!orgs.get(b.organization_id)) return err(res, 422, 'Unknown organization')
    const k = { id: uuid(), object: 'api_key', organization_id: b.organization_id, name: b.name, permission: b.permission ?? 'read', limits: fullLimits(b.limits), status: 'active', expires_at: b.expires_at ?? null, revoked_at: null, created_at: now(), updated_at: now(), version: 1 }
    withLastUse(k, (r) => r.api_key_id === k.id)
    newSecret(k)
    keys.set(k.id, k)
    record('ApiKeyIssued', 'ApiKey', k.id, { organization_id: k.organization_id, name: k.name, permission: k.permission, limits: k.limits, prefix: k.prefix, expires_at: k.expires_at, secret_hash: 'sha256:…' }, me, req)
    return send(res, 201, { ...keyView(k), key: k.secret })
  }
  if ((mm = /^\/v1\/api-keys\/([^/]+)(\/stats|\/history|\/rotate)?$/.exec(p))) {
    const k = keys.get(mm[1])
    if (!k || (!admin && k.organization_id !== me.organization_id)) return err(res, 404, 'API key not found')
    if (mm[2] === '/stats') return stats(res, url, (r) => r.api_key_id === k.id)
    if (mm[2] === '/history') return send(res, 200, { object: 'list', data: events.filter((e) => e.aggregate_id === k.id).map(auditView).map(({ position, aggregate_type, aggregate_id, ...e }) => e) })
    if (m === 'GET') return send(res, 200, keyView(k))
    if (!admin && me.permission !== 'write') return err(res, 403, 'Not allowed', 'permission_error')
    if (mm[2] === '/rotate' && m === 'POST') { newSecret(k); k.version++; record('ApiKeySecretRotated', 'ApiKey', k.id, { prefix: k.prefix, secret_hash: 'sha256:…' }, me, req); return send(res, 200, { ...keyView(k), key: k.secret }) }
    if (m === 'PATCH') {
      const b = await body(req)
      if (b.name !== undefined) { k.name = b.name; record('ApiKeyRenamed', 'ApiKey', k.id, { name: k.name }, me, req) }
      if (b.permission !== undefined) { k.permission = b.permission; record('ApiKeyPermissionChanged', 'ApiKey', k.id, { permission: k.permission }, me, req) }
      if (b.limits !== undefined) { k.limits = patchLimits(k.limits, b.limits); record('ApiKeyLimitsChanged', 'ApiKey', k.id, { limits: k.limits }, me, req) }
      if (b.expires_at !== undefined) { k.expires_at = b.expires_at; record('ApiKeyExpirySet', 'ApiKey', k.id, { expires_at: k.expires_at }, me, req) }
      k.version++
      return send(res, 200, keyView(k))
    }
    if (m === 'DELETE') { k.status = 'revoked'; k.revoked_at = now(); record('ApiKeyRevoked', 'ApiKey', k.id, {}, me, req); return send(res, 200, { id: k.id, object: 'api_key', deleted: true }) }
  }
  if ((mm = /^\/v1\/logs\/([^/]+)$/.exec(p)) && m === 'GET') {
    const r = allLogs().find((x) => x.id === mm[1] && (admin || x.organization_id === me.organization_id))
    return r ? send(res, 200, { ...logView(r), ...bodies.get(r.id) }) : err(res, 404, 'request not found', 'invalid_request_error', 'request_not_found')
  }
  if (p === '/v1/logs') {
    const q = Object.fromEntries(url.searchParams)
    const rs = allLogs().filter((r) => (admin || r.organization_id === me.organization_id) && (!q.organization_id || r.organization_id === q.organization_id) && (!q.api_key_id || r.api_key_id === q.api_key_id) && (!q.model || r.model === q.model) && (!q.provider || r.provider === q.provider) && (!q.deployment || r.deployment === q.deployment) && (!q.status || r.status === q.status) && (!q.error_kind || r.error_kind === q.error_kind) && (!q.ingress || (r.ingress ?? 'chat_completions') === q.ingress) && (!q.from || r.created_at >= q.from) && (!q.to || r.created_at <= q.to)).map(logView)
    if (q.format === 'csv') {
      const cols = Object.keys(rs[0] ?? { id: 0 })
      res.writeHead(200, { 'Content-Type': 'text/csv', 'Content-Disposition': 'attachment; filename="requests.csv"' })
      return res.end([cols.join(','), ...rs.map((r) => cols.map((c) => r[c]).join(','))].join('\n'))
    }
    return page(res, rs, url, (r) => r.id)
  }
  if (p === '/v1/audit') {
    const q = Object.fromEntries(url.searchParams)
    const es = [...events].reverse().filter((e) => (!q.aggregate_type || e.aggregate_type === q.aggregate_type) && (!q.aggregate_id || e.aggregate_id === q.aggregate_id) && (!q.actor || e.actor.id === q.actor) && (!q.from || e.recorded_at >= q.from) && (!q.to || e.recorded_at <= q.to)).map(auditView)
    return page(res, es, url, (e) => e.position)
  }
  if (p === '/v1/operators' && m === 'GET') {
    if (me.kind !== 'operator') return err(res, 403, 'Only operators manage operators', 'permission_error')
    return send(res, 200, { object: 'list', data: [{ id: operator.id, object: 'operator', username: operator.name, status: 'active', created_at: now(), updated_at: now(), version: 1 }], has_more: false })
  }
  return err(res, 404, `No route for ${m} ${p}`)
}

seed()

const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2' }
http
  .createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x')
    try {
      if (url.pathname.startsWith('/v1/')) return await api(req, res, url)
      if (url.pathname === '/health') return send(res, 200, { status: 'ok' })
      let file = path.join(dist, path.normalize(url.pathname).replace(/^(\.\.[/\\])+/, ''))
      if (!file.startsWith(dist) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(dist, 'index.html')
      res.writeHead(200, { 'Content-Type': types[path.extname(file)] ?? 'application/octet-stream' })
      fs.createReadStream(file).pipe(res)
    } catch (e) {
      err(res, 500, String(e?.message ?? e), 'server_error')
    }
  })
  .listen(port, '127.0.0.1', () => console.log(`mock GaiaRouter on http://127.0.0.1:${port} (admin/admin)`))
