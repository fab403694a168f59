//! `/v1/logs`: the request log, newest first, filtered, paged, or as CSV.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use gaiarouter_domain::request::Attempt;
use gaiarouter_domain::Money;
use gaiarouter_projections::request_log::{self, LogFilter, LogRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{page_limit, ListResponse};
use super::extract::{ApiPath, ApiQuery};
use crate::auth::Principal;
use crate::bodies::StoredBodies;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Longest filter value accepted: longer than any stored model, provider or
/// deployment, so a longer one can only match nothing.
const MAX_FILTER_LEN: usize = 512;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/logs", get(request_log)).route("/v1/logs/{id}", get(log_entry))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// A page of the list (see the pagination rule); with `format=csv`, an export:
    /// 1–100,000 rows (default 10,000).
    pub limit: Option<i64>,
    /// The `id` of the last entry of the previous page.
    pub after: Option<Uuid>,
    pub organization_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// The deployment that served (`<route>/<deployment id>`, or the provider of a built-in model id).
    pub deployment: Option<String>,
    /// The API the request came by: `chat_completions` or `messages`.
    pub ingress: Option<String>,
    /// `success`, `error` or `refused` (turned away before any provider).
    pub status: Option<String>,
    /// An error kind, or the reason of a refusal (`api_key_monthly_requests_limit`).
    pub error_kind: Option<String>,
    /// RFC 3339 time or YYYY-MM-DD (start of that UTC day).
    pub from: Option<String>,
    /// RFC 3339 time or YYYY-MM-DD (exclusive).
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// With `format=csv`: add the stored request and response bodies (organizations
    /// that log bodies). Fewer rows are allowed then (see `limit` in the error).
    pub include_bodies: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogEntry {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub organization_id: Uuid,
    pub api_key_id: Uuid,
    /// Current names (null when the organization or key is gone).
    pub organization_name: Option<String>,
    pub api_key_name: Option<String>,
    pub model: String,
    pub provider: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    /// Prompt tokens written to the provider's cache, of which `cache_write_1h_tokens`
    /// for an hour (both part of `prompt_tokens`, each priced apart).
    pub cache_write_tokens: i64,
    pub cache_write_1h_tokens: i64,
    /// Completion tokens spent on reasoning (part of `completion_tokens`).
    pub reasoning_tokens: i64,
    /// `prompt_tokens` and `completion_tokens` are GaiaRouter's estimate (text at
    /// about 4 bytes a token), not the provider's report: the provider answered but
    /// reported no usage, or the answer ended before its report (the client left
    /// mid-stream, the stream broke). Counted against limits all the same.
    pub usage_estimated: bool,
    pub total_tokens: i64,
    pub cost_usd: f64,
    pub cost_nanos: i64,
    pub latency_ms: i64,
    pub time_to_first_token_ms: Option<i64>,
    /// `success`, `error`, or `refused`: turned away before any provider (over a
    /// limit, invalid, unknown model, revoked key...): no provider, no tokens.
    pub status: String,
    pub http_status: i32,
    /// The error kind, or the reason of a refusal (the code the client got).
    pub error_kind: Option<String>,
    /// The message a refused request was answered with.
    pub error_message: Option<String>,
    /// 1; for a refused row, how many identical refusals of the key (same model,
    /// reason, status and API, within a fraction of a second) it stands for:
    /// `created_at` is the first, `finished_at` the last.
    pub refused_count: i64,
    pub streamed: bool,
    /// The deployment that served (or last failed); for requests recorded before
    /// routes, the provider.
    pub deployment: String,
    /// Every upstream attempt in order (retries, fallbacks).
    pub attempts: Vec<AttemptEntry>,
    /// The API the request came by: `chat_completions` (OpenAI) or `messages` (Anthropic).
    pub ingress: String,
    /// The request body as received, when its organization logs bodies (only on
    /// `GET /v1/logs/{id}`; absent when none was stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// Whether `request_body` was cut at `GAIAROUTER_BODY_LOG_MAX_BYTES`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body_truncated: Option<bool>,
    /// The answer as sent: a JSON body, or the server-sent events of a stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body_truncated: Option<bool>,
}

impl LogEntry {
    fn with_bodies(mut self, bodies: Option<StoredBodies>) -> Self {
        if let Some(bodies) = bodies {
            self.request_body = Some(bodies.request_body);
            self.request_body_truncated = Some(bodies.request_truncated);
            self.response_body = Some(bodies.response_body);
            self.response_body_truncated = Some(bodies.response_truncated);
        }
        self
    }
}

/// One upstream call of a request.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptEntry {
    pub deployment: String,
    pub provider: String,
    /// The upstream model.
    pub model: String,
    /// The upstream's HTTP status; 0 = no answer (connection error, timeout).
    pub http_status: u16,
    pub error_kind: Option<String>,
    pub latency_ms: u64,
}

impl From<Attempt> for AttemptEntry {
    fn from(a: Attempt) -> Self {
        AttemptEntry {
            deployment: a.deployment,
            provider: a.provider,
            model: a.model,
            http_status: a.http_status,
            error_kind: a.error_kind,
            latency_ms: a.latency_ms,
        }
    }
}

impl From<LogRow> for LogEntry {
    fn from(r: LogRow) -> Self {
        LogEntry {
            id: r.id,
            created_at: r.started_at,
            finished_at: r.finished_at,
            organization_id: r.organization_id,
            api_key_id: r.api_key_id,
            organization_name: r.organization_name,
            api_key_name: r.api_key_name,
            error_message: r.error_message,
            refused_count: r.refused_count,
            total_tokens: r.prompt_tokens.saturating_add(r.completion_tokens),
            model: r.model,
            provider: r.provider,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            cached_tokens: r.cached_tokens,
            cache_write_tokens: r.cache_write_tokens,
            cache_write_1h_tokens: r.cache_write_1h_tokens,
            reasoning_tokens: r.reasoning_tokens,
            usage_estimated: r.usage_estimated,
            cost_usd: Money::from_nanos(r.cost_nanos).to_usd_f64(),
            cost_nanos: r.cost_nanos,
            latency_ms: r.latency_ms,
            time_to_first_token_ms: r.time_to_first_token_ms,
            status: r.status,
            http_status: r.http_status,
            error_kind: r.error_kind,
            streamed: r.streamed,
            deployment: r.deployment,
            attempts: r.attempts.0.into_iter().map(Into::into).collect(),
            ingress: r.ingress,
            request_body: None,
            request_body_truncated: None,
            response_body: None,
            response_body_truncated: None,
        }
    }
}

/// A CSV export is not a page: it takes up to 100,000 rows at once (10,000 by default).
const EXPORT_LIMIT_DEFAULT: i64 = 10_000;
const EXPORT_LIMIT_MAX: i64 = 100_000;

fn export_limit(limit: Option<i64>) -> ApiResult<i64> {
    match limit.unwrap_or(EXPORT_LIMIT_DEFAULT) {
        n @ 1..=EXPORT_LIMIT_MAX => Ok(n),
        _ => Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {EXPORT_LIMIT_MAX} with format=csv"),
        )
        .with_param("limit")),
    }
}

fn parse_time(text: &str, param: &'static str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(Default::default()).and_utc()))
        .map_err(|_| {
            ApiError::bad_request("invalid_date", format!("`{param}` must be an RFC 3339 time or YYYY-MM-DD"))
                .with_param(param)
        })
}

/// A text field of the export: quoted when it holds a separator, a quote or a line
/// break. One a spreadsheet would run as a formula (first character `=`, `+`, `-`,
/// `@`, tab or carriage return: OWASP's "CSV injection") starts with `'` instead, so a
/// key name a tenant chose, or an upstream's error message, runs nowhere when an
/// operator opens the export.
fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.into_owned()
    }
}

fn to_csv(entries: &[LogEntry], include_bodies: bool) -> String {
    let mut out = String::from(
        "id,created_at,organization_id,api_key_id,model,provider,prompt_tokens,completion_tokens,total_tokens,\
         cost_usd,latency_ms,time_to_first_token_ms,status,http_status,error_kind,streamed,deployment,attempts,\
         ingress,cached_tokens,cache_write_tokens,reasoning_tokens,organization_name,api_key_name,finished_at,\
         refused_count,error_message,cache_write_1h_tokens,cost_nanos,usage_estimated",
    );
    if include_bodies {
        out.push_str(",request_body,request_body_truncated,response_body,response_body_truncated");
    }
    out.push('\n');
    for e in entries {
        let fields = [
            e.id.to_string(),
            e.created_at.to_rfc3339(),
            e.organization_id.to_string(),
            e.api_key_id.to_string(),
            csv_field(&e.model),
            csv_field(&e.provider),
            e.prompt_tokens.to_string(),
            e.completion_tokens.to_string(),
            e.total_tokens.to_string(),
            Money::from_nanos(e.cost_nanos).to_usd_decimal(),
            e.latency_ms.to_string(),
            e.time_to_first_token_ms.map(|v| v.to_string()).unwrap_or_default(),
            e.status.clone(),
            e.http_status.to_string(),
            csv_field(e.error_kind.as_deref().unwrap_or("")),
            e.streamed.to_string(),
            csv_field(&e.deployment),
            // The same attempts the JSON lists, as JSON text in one field.
            csv_field(&serde_json::to_string(&e.attempts).unwrap_or_default()),
            e.ingress.clone(),
            e.cached_tokens.to_string(),
            e.cache_write_tokens.to_string(),
            e.reasoning_tokens.to_string(),
            csv_field(e.organization_name.as_deref().unwrap_or("")),
            csv_field(e.api_key_name.as_deref().unwrap_or("")),
            e.finished_at.to_rfc3339(),
            e.refused_count.to_string(),
            csv_field(e.error_message.as_deref().unwrap_or("")),
            e.cache_write_1h_tokens.to_string(),
            e.cost_nanos.to_string(),
            e.usage_estimated.to_string(),
        ];
        out.push_str(&fields.join(","));
        if include_bodies {
            let flag = |truncated: Option<bool>| truncated.map(|t| t.to_string()).unwrap_or_default();
            let bodies = [
                csv_field(e.request_body.as_deref().unwrap_or("")),
                flag(e.request_body_truncated),
                csv_field(e.response_body.as_deref().unwrap_or("")),
                flag(e.response_body_truncated),
            ];
            out.push(',');
            out.push_str(&bodies.join(","));
        }
        out.push('\n');
    }
    out
}

#[utoipa::path(get, path = "/v1/logs", params(LogParams), tag = "logs",
    responses((status = 200, body = ListResponse<LogEntry>), (status = 400)))]
pub(crate) async fn request_log(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<LogParams>,
) -> ApiResult<Response> {
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(ApiError::bad_request("invalid_format", "format must be json or csv").with_param("format"))
        }
    };
    let include_bodies = params.include_bodies.unwrap_or(false);
    if include_bodies && !csv {
        return Err(ApiError::bad_request("invalid_include_bodies", "include_bodies is for format=csv")
            .with_param("include_bodies"));
    }
    let limit = match (csv, include_bodies) {
        // Bodies make rows large: fewer of them per export (by default as many as fit).
        (true, true) => {
            let max = max_rows_with_bodies(state.bodies.max_bytes());
            let limit = export_limit(Some(params.limit.unwrap_or(max)))?;
            if limit > max {
                return Err(ApiError::bad_request(
                    "invalid_limit",
                    format!("limit must be between 1 and {max} with include_bodies"),
                )
                .with_param("limit"));
            }
            limit
        }
        (true, false) => export_limit(params.limit)?,
        (false, _) => page_limit(params.limit)?,
    };
    if let Some(status) = &params.status {
        if !["success", "error", "refused"].contains(&status.as_str()) {
            return Err(ApiError::bad_request("invalid_status", "status must be success, error or refused")
                .with_param("status"));
        }
    }
    if let Some(ingress) = &params.ingress {
        if ingress != "chat_completions" && ingress != "messages" {
            return Err(ApiError::bad_request("invalid_ingress", "ingress must be chat_completions or messages")
                .with_param("ingress"));
        }
    }
    let texts = [
        ("model", &params.model),
        ("provider", &params.provider),
        ("deployment", &params.deployment),
        ("error_kind", &params.error_kind),
    ];
    for (param, value) in texts {
        if value.as_ref().is_some_and(|v| v.len() > MAX_FILTER_LEN) {
            return Err(ApiError::bad_request("invalid_filter", format!("`{param}` must be at most 512 characters"))
                .with_param(param));
        }
    }
    let organization_id = match (principal.scope(), params.organization_id) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(ApiError::not_found("organization_not_found", "organization not found"))
        }
        (Some(own), _) => Some(own),
        (None, asked) => asked,
    };
    let filter = LogFilter {
        organization_id,
        api_key_id: params.api_key_id,
        model: params.model.map(|model| state.completions.recorded_name(&model)),
        provider: params.provider,
        deployment: params.deployment,
        ingress: params.ingress,
        status: params.status,
        error_kind: params.error_kind,
        from: params.from.as_deref().map(|t| parse_time(t, "from")).transpose()?,
        to: params.to.as_deref().map(|t| parse_time(t, "to")).transpose()?,
        before: params.after,
    };
    let mut rows = request_log::page(&state.pool, &filter, limit + 1).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let mut entries: Vec<LogEntry> = rows.into_iter().map(Into::into).collect();
    if include_bodies {
        let ids: Vec<Uuid> = entries.iter().map(|e| e.id).collect();
        let mut bodies = crate::bodies::store::for_requests(&state.pool, &ids).await?;
        entries = entries
            .into_iter()
            .map(|e| {
                let id = e.id;
                e.with_bodies(bodies.remove(&id))
            })
            .collect();
    }
    if csv {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"requests.csv\""),
            ],
            to_csv(&entries, include_bodies),
        )
            .into_response());
    }
    Ok(Json(ListResponse::new(entries, has_more)).into_response())
}

#[utoipa::path(get, path = "/v1/logs/{id}", params(("id" = Uuid, Path)), tag = "logs",
    responses((status = 200, body = LogEntry), (status = 400), (status = 401), (status = 404)))]
pub(crate) async fn log_entry(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<LogEntry>> {
    match request_log::one(&state.pool, id).await? {
        Some(row) if principal.can_see_organization(row.organization_id) => {
            let bodies = crate::bodies::store::for_request(&state.pool, id).await?;
            Ok(Json(LogEntry::from(row).with_bodies(bodies)))
        }
        _ => Err(ApiError::not_found("request_not_found", "request not found")),
    }
}

/// What one CSV export with bodies may hold of them: every row may carry two
/// bodies of the configured size, so the rows allowed shrink as it grows.
const CSV_BODY_BUDGET: usize = 64 * 1024 * 1024;
/// The most rows of a CSV export with bodies, however small the bodies.
const MAX_ROWS_WITH_BODIES: i64 = 1_000;

fn max_rows_with_bodies(max_body_bytes: usize) -> i64 {
    let rows = CSV_BODY_BUDGET / max_body_bytes.max(1).saturating_mul(2);
    i64::try_from(rows).unwrap_or(i64::MAX).clamp(1, MAX_ROWS_WITH_BODIES)
}
