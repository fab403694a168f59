//! The request log: one row per request, newest first, filterable; a projection of
//! the `RequestCompleted` events, and of the `RequestRefused` ones (a row per
//! folded refusal, `refused_count` saying how many requests it stands for).

use chrono::{DateTime, Utc};
use gaiarouter_domain::request::{Attempt, RequestStatus, AGGREGATE_TYPE};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::event_log::{EventLogError, StoredEvent};
use crate::{refused_events, request_events, Projector};

/// `retention_days`: rows that started longer ago are not written (a rebuild must
/// not bring back what retention removed); `None` keeps everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLog {
    pub retention_days: Option<u32>,
}

impl RequestLog {
    /// Requests that started before this are past retention.
    pub fn cutoff(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.retention_days.map(|days| now - chrono::Duration::days(i64::from(days)))
    }
}

#[async_trait::async_trait]
impl Projector for RequestLog {
    fn name(&self) -> &'static str {
        "request_log"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["request_log"]
    }

    fn aggregate_types(&self) -> &'static [&'static str] {
        &[AGGREGATE_TYPE]
    }

    async fn apply(&self, tx: &mut PgConnection, events: &[StoredEvent]) -> Result<(), EventLogError> {
        let mut ids = Vec::with_capacity(events.len());
        for event in events.iter().filter(|e| e.event_type == gaiarouter_domain::request::EVENT_TYPE) {
            ids.push(Uuid::parse_str(&event.aggregate_id).unwrap_or_default());
        }
        let requests = request_events(events)?;
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let kept = |started: DateTime<Utc>| self.cutoff(Utc::now()).is_none_or(|cutoff| started >= cutoff);
        let mut c = Columns::default();
        for (id, r) in ids.into_iter().zip(&requests).filter(|(_, r)| kept(r.started_at)) {
            c.ids.push(id);
            c.started.push(r.started_at);
            c.finished.push(r.finished_at);
            c.orgs.push(r.organization_id);
            c.keys.push(r.api_key_id);
            c.models.push(r.model.clone());
            c.providers.push(r.provider.clone());
            c.prompt.push(n(r.prompt_tokens));
            c.completion.push(n(r.completion_tokens));
            c.cached.push(n(r.cached_tokens));
            c.cost.push(r.cost.nanos());
            c.latency.push(n(r.latency_ms));
            c.ttft.push(r.time_to_first_token_ms.map(n));
            c.status.push(if r.status == RequestStatus::Success { "success" } else { "error" });
            c.http_status.push(i32::from(r.http_status));
            c.error_kind.push(r.error_kind.clone());
            c.streamed.push(r.streamed);
            c.deployments.push(r.deployment.clone());
            c.attempts.push(serde_json::to_value(&r.attempts).unwrap_or_default());
            c.ingress.push(r.ingress.clone());
            c.cache_write.push(n(r.cache_write_tokens));
            c.cache_write_1h.push(n(r.cache_write_1h_tokens));
            c.reasoning.push(n(r.reasoning_tokens));
            c.usage_estimated.push(r.usage_estimated);
            c.refused_count.push(1);
            c.error_message.push(None);
        }
        for (id, r) in refused_events(events)?.into_iter().filter(|(_, r)| kept(r.first_at)) {
            c.ids.push(id);
            c.started.push(r.first_at);
            c.finished.push(r.last_at);
            c.orgs.push(r.organization_id);
            c.keys.push(r.api_key_id);
            c.models.push(r.model.clone());
            c.providers.push(String::new());
            c.prompt.push(0);
            c.completion.push(0);
            c.cached.push(0);
            c.cost.push(0);
            c.latency.push(0);
            c.ttft.push(None);
            c.status.push("refused");
            c.http_status.push(i32::from(r.http_status));
            c.error_kind.push(Some(r.reason.clone()));
            c.streamed.push(false);
            c.deployments.push(String::new());
            c.attempts.push(serde_json::Value::Array(Vec::new()));
            c.ingress.push(r.ingress.clone());
            c.cache_write.push(0);
            c.cache_write_1h.push(0);
            c.reasoning.push(0);
            c.usage_estimated.push(false);
            c.refused_count.push(n(r.count));
            c.error_message.push(Some(r.message.clone()));
        }
        if c.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO request_log (id, started_at, finished_at, organization_id, api_key_id, model, provider, \
               prompt_tokens, completion_tokens, cached_tokens, cost_nanos, latency_ms, time_to_first_token_ms, status, \
               http_status, error_kind, streamed, deployment, attempts, ingress, cache_write_tokens, \
               cache_write_1h_tokens, reasoning_tokens, refused_count, error_message, usage_estimated) \
             SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::uuid[], $5::uuid[], $6::text[], \
               $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[], \
               $14::text[], $15::int[], $16::text[], $17::bool[], $18::text[], $19::jsonb[], $20::text[], \
               $21::bigint[], $22::bigint[], $23::bigint[], $24::bigint[], $25::text[], $26::bool[]) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&c.ids)
        .bind(&c.started)
        .bind(&c.finished)
        .bind(&c.orgs)
        .bind(&c.keys)
        .bind(&c.models)
        .bind(&c.providers)
        .bind(&c.prompt)
        .bind(&c.completion)
        .bind(&c.cached)
        .bind(&c.cost)
        .bind(&c.latency)
        .bind(&c.ttft)
        .bind(&c.status)
        .bind(&c.http_status)
        .bind(&c.error_kind)
        .bind(&c.streamed)
        .bind(&c.deployments)
        .bind(&c.attempts)
        .bind(&c.ingress)
        .bind(&c.cache_write)
        .bind(&c.cache_write_1h)
        .bind(&c.reasoning)
        .bind(&c.refused_count)
        .bind(&c.error_message)
        .bind(&c.usage_estimated)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct Columns {
    ids: Vec<Uuid>,
    started: Vec<DateTime<Utc>>,
    finished: Vec<DateTime<Utc>>,
    orgs: Vec<Uuid>,
    keys: Vec<Uuid>,
    models: Vec<String>,
    providers: Vec<String>,
    prompt: Vec<i64>,
    completion: Vec<i64>,
    cached: Vec<i64>,
    cost: Vec<i64>,
    latency: Vec<i64>,
    ttft: Vec<Option<i64>>,
    status: Vec<&'static str>,
    http_status: Vec<i32>,
    error_kind: Vec<Option<String>>,
    streamed: Vec<bool>,
    deployments: Vec<String>,
    attempts: Vec<serde_json::Value>,
    ingress: Vec<String>,
    cache_write: Vec<i64>,
    cache_write_1h: Vec<i64>,
    reasoning: Vec<i64>,
    refused_count: Vec<i64>,
    error_message: Vec<Option<String>>,
    usage_estimated: Vec<bool>,
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct LogRow {
    pub id: Uuid,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub organization_id: Uuid,
    pub api_key_id: Uuid,
    pub model: String,
    pub provider: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cached_tokens: i64,
    pub cost_nanos: i64,
    pub latency_ms: i64,
    pub time_to_first_token_ms: Option<i64>,
    pub status: String,
    pub http_status: i32,
    pub error_kind: Option<String>,
    pub streamed: bool,
    pub deployment: String,
    /// The upstream attempts in order, as the event recorded them (upcast for old events).
    pub attempts: Json<Vec<Attempt>>,
    /// "chat_completions" or "messages".
    pub ingress: String,
    pub cache_write_tokens: i64,
    pub cache_write_1h_tokens: i64,
    pub reasoning_tokens: i64,
    /// 1, or for a refused row how many identical refusals it stands for.
    pub refused_count: i64,
    /// The message a refused request was answered with.
    pub error_message: Option<String>,
    /// The tokens are the gateway's estimate (`RequestCompleted::usage_estimated`).
    pub usage_estimated: bool,
    /// Current names (null when the organization or key is unknown).
    pub organization_name: Option<String>,
    pub api_key_name: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub organization_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub deployment: Option<String>,
    pub ingress: Option<String>,
    pub status: Option<String>,
    pub error_kind: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only requests older than this id (the cursor).
    pub before: Option<Uuid>,
}

/// The log's rows with the current names of their organization and key.
const SELECT_ROWS: &str = "SELECT l.*, o.name AS organization_name, k.name AS api_key_name FROM request_log l \
     LEFT JOIN organization_view o ON o.id = l.organization_id LEFT JOIN api_key_view k ON k.id = l.api_key_id";

/// One request by id.
pub async fn one(pool: &PgPool, id: Uuid) -> Result<Option<LogRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT_ROWS} WHERE l.id = $1")).bind(id).fetch_optional(pool).await
}

/// Newest first, at most `limit` rows.
pub async fn page(pool: &PgPool, filter: &LogFilter, limit: i64) -> Result<Vec<LogRow>, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(SELECT_ROWS);
    query.push(" WHERE true");
    if let Some(org) = filter.organization_id {
        query.push(" AND l.organization_id = ").push_bind(org);
    }
    if let Some(key) = filter.api_key_id {
        query.push(" AND l.api_key_id = ").push_bind(key);
    }
    let texts = [
        ("l.model", &filter.model),
        ("l.provider", &filter.provider),
        ("l.deployment", &filter.deployment),
        ("l.ingress", &filter.ingress),
        ("l.status", &filter.status),
        ("l.error_kind", &filter.error_kind),
    ];
    for (column, value) in texts {
        if let Some(value) = value {
            query.push(format_args!(" AND {column} = ")).push_bind(value.clone());
        }
    }
    if let Some(from) = filter.from {
        query.push(" AND l.started_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND l.started_at < ").push_bind(to);
    }
    if let Some(before) = filter.before {
        query.push(" AND l.id < ").push_bind(before);
    }
    query.push(" ORDER BY l.id DESC LIMIT ").push_bind(limit);
    query.build_query_as().fetch_all(pool).await
}
