//! The audit trail: every admin event with who, when and from where (route
//! histories are answered by `routes.rs` from the same entries).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use gaiarouter_projections::event_log::{self, AuditFilter, StoredEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{page_limit, ListResponse};
use super::extract::{ApiPath, ApiQuery};
use crate::admin::read;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What the audit trail shows: admin changes and login attempts (failures, lockouts).
/// What the audit trail shows: admin changes, logins, budget alerts and webhook endpoints.
pub const ADMIN_AGGREGATES: [&str; 7] =
    ["Organization", "ApiKey", "Operator", "Login", "Route", "BudgetAlert", "WebhookEndpoint"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/organizations/{id}/history", get(organization_history))
        .route("/v1/api-keys/{id}/history", get(api_key_history))
        .route("/v1/audit", get(audit_log))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActorDto {
    /// `operator`, `api_key` or `system`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// Global position in the event store; the cursor for `/v1/audit`.
    pub position: i64,
    pub event_type: String,
    pub event_version: String,
    pub sequence: i64,
    pub recorded_at: DateTime<Utc>,
    pub actor: ActorDto,
    /// The current name of what the event is about (organization, key, route,
    /// webhook endpoint, operator); null when it has none or is gone.
    pub subject_name: Option<String>,
    /// The server's id of the request that caused the event.
    pub request_id: Option<String>,
    /// The `x-request-id` the client sent, if any (printable ASCII, at most 128 chars).
    pub client_request_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The event's fields; secret hashes are never shown.
    #[schema(value_type = Object)]
    pub payload: Value,
}

/// Fields that hold hashes of secrets: recorded, but never answered.
const REDACTED_FIELDS: [&str; 3] = ["secret_hash", "password_hash", "secret"];

/// Unwraps `{"EventName": {...}}` to its fields and hides secret hashes.
fn public_payload(event_type: &str, payload: &Value) -> Value {
    let mut inner = payload.get(event_type).cloned().unwrap_or_else(|| payload.clone());
    if let Value::Object(fields) = &mut inner {
        for field in REDACTED_FIELDS {
            if fields.contains_key(field) {
                fields.insert(field.to_string(), Value::String("[redacted]".into()));
            }
        }
    }
    inner
}

fn meta(metadata: &Value, key: &str) -> Option<String> {
    metadata.get(key).and_then(Value::as_str).map(str::to_string)
}

impl From<StoredEvent> for AuditEntry {
    fn from(event: StoredEvent) -> Self {
        AuditEntry {
            payload: public_payload(&event.event_type, &event.payload),
            actor: ActorDto {
                kind: meta(&event.metadata, "actor_type"),
                id: meta(&event.metadata, "actor_id"),
                name: meta(&event.metadata, "actor_name"),
            },
            subject_name: None,
            request_id: meta(&event.metadata, "request_id"),
            client_request_id: meta(&event.metadata, "client_request_id"),
            client_ip: meta(&event.metadata, "client_ip"),
            user_agent: meta(&event.metadata, "user_agent"),
            aggregate_type: event.aggregate_type,
            aggregate_id: event.aggregate_id,
            position: event.global_position,
            event_type: event.event_type,
            event_version: event.event_version,
            sequence: event.sequence,
            recorded_at: event.recorded_at,
        }
    }
}

async fn history(state: &AppState, aggregate_type: &str, id: Uuid) -> ApiResult<Json<ListResponse<AuditEntry>>> {
    let events = event_log::load_stream(&state.pool, aggregate_type, &id.to_string(), None).await?;
    Ok(Json(ListResponse::new(named(state, events.into_iter().map(Into::into).collect()).await?, false)))
}

/// Fills in the current names of the entries' subjects and actors, in one query:
/// an audit trail of ids is unreadable (UUIDv7 prefixes are creation times).
async fn named(state: &AppState, mut entries: Vec<AuditEntry>) -> ApiResult<Vec<AuditEntry>> {
    let mut ids: Vec<Uuid> = entries.iter().filter_map(|e| Uuid::parse_str(&e.aggregate_id).ok()).collect();
    ids.extend(entries.iter().filter_map(|e| e.actor.id.as_deref().and_then(|id| Uuid::parse_str(id).ok())));
    ids.sort_unstable();
    ids.dedup();
    let names: std::collections::HashMap<Uuid, String> = sqlx::query_as::<_, (Uuid, String)>(
        "SELECT id, name FROM organization_view WHERE id = ANY($1) \
         UNION ALL SELECT id, name FROM api_key_view WHERE id = ANY($1) \
         UNION ALL SELECT id, name FROM route_view WHERE id = ANY($1) \
         UNION ALL SELECT id, url FROM webhook_endpoint_view WHERE id = ANY($1) \
         UNION ALL SELECT id, username FROM operator_view WHERE id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .collect();
    let name_of = |id: &str| Uuid::parse_str(id).ok().and_then(|id| names.get(&id).cloned());
    for entry in &mut entries {
        entry.subject_name = name_of(&entry.aggregate_id);
        if entry.actor.name.is_none() {
            entry.actor.name = entry.actor.id.as_deref().and_then(name_of);
        }
    }
    Ok(entries)
}

#[utoipa::path(get, path = "/v1/organizations/{id}/history", params(("id" = Uuid, Path)), tag = "audit",
    responses((status = 200, body = ListResponse<AuditEntry>), (status = 404)))]
pub(crate) async fn organization_history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ListResponse<AuditEntry>>> {
    let exists: Option<Uuid> = sqlx::query_scalar("SELECT id FROM organization_view WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.pool)
        .await?;
    if exists.is_none() || !principal.can_see_organization(id) {
        return Err(ApiError::not_found("organization_not_found", "organization not found"));
    }
    history(&state, "Organization", id).await
}

#[utoipa::path(get, path = "/v1/api-keys/{id}/history", params(("id" = Uuid, Path)), tag = "audit",
    responses((status = 200, body = ListResponse<AuditEntry>), (status = 404)))]
pub(crate) async fn api_key_history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ListResponse<AuditEntry>>> {
    match read::api_key(&state.pool, id).await? {
        Some(row) if principal.can_see_organization(row.organization_id) => history(&state, "ApiKey", id).await,
        _ => Err(ApiError::not_found("api_key_not_found", "API key not found")),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// `Organization`, `ApiKey`, `Operator`, `Login`, `Route`, `BudgetAlert` or `WebhookEndpoint`.
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    /// The actor's id (operator or API key).
    pub actor: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    /// The `position` of the last entry of the previous page.
    pub after: Option<i64>,
}

#[utoipa::path(get, path = "/v1/audit", params(AuditParams), tag = "audit",
    responses((status = 200, body = ListResponse<AuditEntry>), (status = 403)))]
pub(crate) async fn audit_log(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<ListResponse<AuditEntry>>> {
    principal.require_admin()?;
    let limit = page_limit(params.limit)?;
    let aggregate_types =
        match params.aggregate_type {
            None => ADMIN_AGGREGATES.iter().map(|s| s.to_string()).collect(),
            Some(kind) if ADMIN_AGGREGATES.contains(&kind.as_str()) => vec![kind],
            Some(_) => return Err(ApiError::bad_request(
                "invalid_aggregate_type",
                "aggregate_type must be Organization, ApiKey, Operator, Login, Route, BudgetAlert or WebhookEndpoint",
            )
            .with_param("aggregate_type")),
        };
    let filter = AuditFilter {
        aggregate_types,
        aggregate_id: params.aggregate_id,
        actor_id: params.actor,
        from: params.from,
        to: params.to,
        before_position: params.after,
    };
    let mut events = event_log::audit_page(&state.pool, &filter, limit + 1).await?;
    let has_more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    Ok(Json(ListResponse::new(named(&state, events.into_iter().map(Into::into).collect()).await?, has_more)))
}
