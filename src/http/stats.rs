//! Usage statistics from the rollups: `/v1/stats`, `/v1/organizations/{id}/stats`,
//! `/v1/api-keys/{id}/stats`.

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use gaiarouter_domain::Money;
use gaiarouter_projections::stats::{self, hour_key, Aggregate, GroupBy, Range, SeriesPoint, StatsScope};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{ApiPath, ApiQuery};
use crate::admin::read;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/stats", get(global_stats))
        .route("/v1/organizations/{id}/stats", get(organization_stats))
        .route("/v1/api-keys/{id}/stats", get(api_key_stats))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// First day (YYYY-MM-DD, UTC; an RFC 3339 time is cut to its day). Default: 29 days before `to`.
    pub from: Option<String>,
    /// Last day, inclusive. Default: today (UTC).
    pub to: Option<String>,
    /// `day` (default), `hour` (for ranges of at most three days), `model`, `provider`,
    /// `deployment`, `organization` or `key`.
    pub group_by: Option<String>,
    /// With `group_by` `day` or `hour`: also answer `series`, one per `model`,
    /// `provider`, `organization` or `key` (the 8 costliest, the rest as `other`).
    pub split_by: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LatencyDto {
    pub avg: Option<f64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsDto {
    pub requests: i64,
    pub successes: i64,
    pub errors: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    /// Prompt tokens written to providers' caches, of which `cache_write_1h_tokens`
    /// for an hour (part of `prompt_tokens`; priced apart from plain input).
    pub cache_write_tokens: i64,
    pub cache_write_1h_tokens: i64,
    /// Completion tokens spent on reasoning (part of `completion_tokens`).
    pub reasoning_tokens: i64,
    pub total_tokens: i64,
    /// For display; `cost_nanos` is exact.
    pub cost_usd: f64,
    pub cost_nanos: i64,
    pub latency_ms: LatencyDto,
    pub time_to_first_token_ms_avg: Option<f64>,
    /// 0..1
    pub error_rate: f64,
    pub success_rate: f64,
    /// Requests refused before any provider (over a limit, invalid, unknown model,
    /// revoked key...): not part of `requests`.
    pub refused: i64,
}

impl From<&Aggregate> for StatsDto {
    fn from(a: &Aggregate) -> Self {
        let rate = |n: i64| if a.requests > 0 { n as f64 / a.requests as f64 } else { 0.0 };
        StatsDto {
            requests: a.requests,
            successes: a.successes,
            errors: a.errors,
            prompt_tokens: a.prompt_tokens,
            completion_tokens: a.completion_tokens,
            cached_tokens: a.cached_tokens,
            cache_write_tokens: a.cache_write_tokens,
            cache_write_1h_tokens: a.cache_write_1h_tokens,
            reasoning_tokens: a.reasoning_tokens,
            total_tokens: a.prompt_tokens.saturating_add(a.completion_tokens),
            cost_usd: Money::from_nanos(a.cost_nanos).to_usd_f64(),
            cost_nanos: a.cost_nanos,
            latency_ms: LatencyDto {
                avg: a.latency_avg_ms(),
                min: a.latency_min_ms,
                max: a.latency_max_ms,
                p50: a.latency_quantile(0.50),
                p95: a.latency_quantile(0.95),
                p99: a.latency_quantile(0.99),
            },
            time_to_first_token_ms_avg: (a.ttft_count > 0).then(|| a.ttft_sum_ms as f64 / a.ttft_count as f64),
            error_rate: rate(a.errors),
            success_rate: rate(a.successes),
            refused: a.refused,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsGroup {
    pub key: String,
    /// A readable name (organization or key name) where there is one.
    pub label: String,
    #[serde(flatten)]
    pub stats: StatsDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsResponse {
    pub object: &'static str,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: String,
    pub summary: StatsDto,
    pub data: Vec<StatsGroup>,
    pub errors_by_kind: HashMap<String, i64>,
    /// Refused requests by the code they were answered with.
    pub refused_by_reason: HashMap<String, i64>,
    /// With `split_by`: one series per split value, every bucket of `data` in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<Series>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Series {
    /// The model, provider, organization id or key id; `other` for the rest.
    pub key: String,
    pub label: String,
    pub data: Vec<SeriesPointDto>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesPointDto {
    /// The bucket: a day (`2026-11-30`) or an hour (`2026-11-30T14:00:00Z`).
    pub key: String,
    pub requests: i64,
    pub refused: i64,
    pub errors: i64,
    pub cost_usd: f64,
    pub cost_nanos: i64,
    pub total_tokens: i64,
}

impl SeriesPointDto {
    fn of(key: String, point: &SeriesPoint) -> Self {
        SeriesPointDto {
            key,
            requests: point.requests,
            refused: point.refused,
            errors: point.errors,
            cost_usd: Money::from_nanos(point.cost_nanos).to_usd_f64(),
            cost_nanos: point.cost_nanos,
            total_tokens: point.total_tokens,
        }
    }
}

/// Series drawn one by one before the rest are summed as "other".
const MAX_SERIES: usize = 8;
/// Hourly groups are for short ranges: three UTC days (a rolling 48 hours spans
/// three) are 72 points.
const MAX_HOURLY_DAYS: i64 = 3;

fn parse_day(text: &str, param: &'static str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc).date_naive()))
        .map_err(|_| ApiError::bad_request("invalid_date", format!("`{param}` must be YYYY-MM-DD")).with_param(param))
}

async fn answer(state: &AppState, params: StatsParams, scope: StatsScope) -> ApiResult<Json<StatsResponse>> {
    let to = params.to.as_deref().map(|t| parse_day(t, "to")).transpose()?.unwrap_or_else(|| Utc::now().date_naive());
    let from = params.from.as_deref().map(|f| parse_day(f, "from")).transpose()?.unwrap_or(to - Duration::days(29));
    if from > to {
        return Err(ApiError::bad_request("invalid_date", "`from` must not be after `to`").with_param("from"));
    }
    if (to - from).num_days() > 3660 {
        return Err(ApiError::bad_request("invalid_date", "the range is limited to ten years").with_param("from"));
    }
    let group_name = params.group_by.unwrap_or_else(|| "day".to_string());
    let group_by = GroupBy::parse(&group_name).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_group_by",
            "group_by must be day, hour, model, provider, deployment, organization or key",
        )
        .with_param("group_by")
    })?;
    let hourly = group_by == GroupBy::Hour;
    if hourly && (to - from).num_days() >= MAX_HOURLY_DAYS {
        return Err(ApiError::bad_request("invalid_group_by", "group_by=hour is for ranges of at most three days")
            .with_param("group_by"));
    }
    let split = match params.split_by.as_deref() {
        None => None,
        Some(text) => match GroupBy::parse(text) {
            Some(split @ (GroupBy::Model | GroupBy::Provider | GroupBy::Organization | GroupBy::Key))
                if matches!(group_by, GroupBy::Day | GroupBy::Hour) =>
            {
                Some(split)
            }
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_split_by",
                    "split_by must be model, provider, organization or key, with group_by day or hour",
                )
                .with_param("split_by"))
            }
        },
    };
    let range = Range { from, to, hourly };
    let (summary, groups) = stats::query(&state.pool, range, scope, group_by).await?;
    let labels = labels(state, group_by, groups.iter().map(|(key, _)| key.as_str())).await?;
    let mut data: Vec<StatsGroup> = groups
        .iter()
        .map(|(key, aggregate)| StatsGroup {
            label: labels.get(key).cloned().unwrap_or_else(|| key.clone()),
            key: key.clone(),
            stats: aggregate.into(),
        })
        .collect();
    let buckets = buckets(range, group_by);
    if let Some(buckets) = &buckets {
        data = fill(buckets, data);
    }
    let series = match (split, &buckets) {
        (Some(split), Some(buckets)) => Some(series(state, range, scope, group_by, split, buckets).await?),
        _ => None,
    };
    let errors_by_kind = stats::errors_by_kind(&state.pool, range, scope).await?.into_iter().collect();
    let refused_by_reason = stats::refused_by_reason(&state.pool, range, scope).await?.into_iter().collect();
    Ok(Json(StatsResponse {
        object: "stats",
        from,
        to,
        group_by: group_name,
        summary: (&summary).into(),
        data,
        errors_by_kind,
        refused_by_reason,
        series,
    }))
}

/// The keys of every day or hour of the range, in order (`None` for other groups).
fn buckets(range: Range, group_by: GroupBy) -> Option<Vec<String>> {
    match group_by {
        GroupBy::Day => {
            Some(range.from.iter_days().take_while(|day| *day <= range.to).map(|day| day.to_string()).collect())
        }
        GroupBy::Hour => Some(range.hours().into_iter().map(hour_key).collect()),
        _ => None,
    }
}

/// Every bucket of the range, with zeros where nothing happened (charts need them).
fn fill(buckets: &[String], data: Vec<StatsGroup>) -> Vec<StatsGroup> {
    let mut by_key: HashMap<String, StatsGroup> = data.into_iter().map(|g| (g.key.clone(), g)).collect();
    buckets
        .iter()
        .map(|key| {
            by_key.remove(key).unwrap_or_else(|| StatsGroup {
                label: key.clone(),
                key: key.clone(),
                stats: (&Aggregate::default()).into(),
            })
        })
        .collect()
}

/// The costliest `MAX_SERIES` split values one by one, the rest summed as `other`;
/// each with every bucket.
async fn series(
    state: &AppState,
    range: Range,
    scope: StatsScope,
    bucket: GroupBy,
    split: GroupBy,
    buckets: &[String],
) -> ApiResult<Vec<Series>> {
    let rows = stats::series(&state.pool, range, scope, bucket, split).await?;
    let mut totals: HashMap<&str, (i64, i64)> = HashMap::new();
    for (_, key, point) in &rows {
        let total = totals.entry(key.as_str()).or_default();
        total.0 = total.0.saturating_add(point.cost_nanos);
        total.1 = total.1.saturating_add(point.requests.saturating_add(point.refused));
    }
    let mut ranked: Vec<(&str, (i64, i64))> = totals.into_iter().collect();
    // Costliest first; among equal costs the busiest, then by name (stable answers).
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let shown: Vec<String> = ranked.iter().take(MAX_SERIES).map(|(key, _)| key.to_string()).collect();
    let has_other = ranked.len() > MAX_SERIES;
    // By position, not by name: a model may well be called "other".
    let series_of: HashMap<&str, usize> = shown.iter().enumerate().map(|(i, key)| (key.as_str(), i)).collect();
    let bucket_of: HashMap<&str, usize> = buckets.iter().enumerate().map(|(i, key)| (key.as_str(), i)).collect();
    let mut points = vec![vec![SeriesPoint::default(); buckets.len()]; shown.len() + usize::from(has_other)];
    for (bucket, key, point) in &rows {
        let series = series_of.get(key.as_str()).copied().unwrap_or(shown.len());
        let slot = bucket_of.get(bucket.as_str()).and_then(|&b| points.get_mut(series)?.get_mut(b));
        if let Some(slot) = slot {
            slot.add(point);
        }
    }
    let labels = labels(state, split, shown.iter().map(String::as_str)).await?;
    Ok(points
        .into_iter()
        .enumerate()
        .map(|(i, series_points)| {
            let (key, label) = match shown.get(i) {
                Some(key) => (key.clone(), labels.get(key).cloned().unwrap_or_else(|| key.clone())),
                None => ("other".to_string(), "Other".to_string()),
            };
            let data = buckets
                .iter()
                .zip(&series_points)
                .map(|(bucket, point)| SeriesPointDto::of(bucket.clone(), point))
                .collect();
            Series { key, label, data }
        })
        .collect())
}

async fn labels(
    state: &AppState,
    group_by: GroupBy,
    keys: impl Iterator<Item = &str>,
) -> ApiResult<HashMap<String, String>> {
    let ids: Vec<Uuid> = keys.filter_map(|key| Uuid::parse_str(key).ok()).collect();
    let sql = match group_by {
        GroupBy::Organization => "SELECT id::text, name FROM organization_view WHERE id = ANY($1)",
        GroupBy::Key => "SELECT id::text, name FROM api_key_view WHERE id = ANY($1)",
        _ => return Ok(HashMap::new()),
    };
    let rows: Vec<(String, String)> = sqlx::query_as(sql).bind(&ids).fetch_all(&state.pool).await?;
    Ok(rows.into_iter().collect())
}

#[utoipa::path(get, path = "/v1/stats", params(StatsParams), tag = "stats",
    responses((status = 200, body = StatsResponse), (status = 400)))]
pub(crate) async fn global_stats(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<StatsParams>,
) -> ApiResult<Json<StatsResponse>> {
    answer(&state, params, StatsScope { organization_id: principal.scope(), api_key_id: None }).await
}

#[utoipa::path(get, path = "/v1/organizations/{id}/stats", params(("id" = Uuid, Path), StatsParams), tag = "stats",
    responses((status = 200, body = StatsResponse), (status = 404)))]
pub(crate) async fn organization_stats(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<StatsParams>,
) -> ApiResult<Json<StatsResponse>> {
    if !principal.can_see_organization(id) || read::organization(&state.pool, id).await?.is_none() {
        return Err(ApiError::not_found("organization_not_found", "organization not found"));
    }
    answer(&state, params, StatsScope { organization_id: Some(id), api_key_id: None }).await
}

#[utoipa::path(get, path = "/v1/api-keys/{id}/stats", params(("id" = Uuid, Path), StatsParams), tag = "stats",
    responses((status = 200, body = StatsResponse), (status = 404)))]
pub(crate) async fn api_key_stats(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<StatsParams>,
) -> ApiResult<Json<StatsResponse>> {
    match read::api_key(&state.pool, id).await? {
        Some(key) if principal.can_see_organization(key.organization_id) => {
            answer(&state, params, StatsScope { organization_id: None, api_key_id: Some(id) }).await
        }
        _ => Err(ApiError::not_found("api_key_not_found", "API key not found")),
    }
}
