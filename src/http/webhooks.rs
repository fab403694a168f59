//! `/v1/webhooks`: endpoints that receive subscribed events, their deliveries and
//! attempts. Managed by operators (any organization, or gateway-wide endpoints)
//! and by `admin` keys (their own organization only: another organization's
//! endpoints answer 404). `read` and `write` keys get 403. The signing secret is
//! answered by create and rotate only.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use gaiarouter_domain::webhook::{EndpointSpec, WebhookEndpoint, EVENT_TYPES};
use gaiarouter_domain::Permission;
use gaiarouter_projections::event_log;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::AuditEntry;
use super::dto::{double_option, page_limit, Deleted, ListResponse, PageParams};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::RequestContext;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// More than every type twice is no honest subscription list.
const MAX_EVENT_TYPES_IN_BODY: usize = 2 * EVENT_TYPES.len();

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks", get(list_webhooks).post(create_webhook))
        .route("/v1/webhooks/{id}", get(get_webhook).patch(update_webhook).delete(delete_webhook))
        .route("/v1/webhooks/{id}/rotate_secret", post(rotate_webhook_secret))
        .route("/v1/webhooks/{id}/test", post(test_webhook))
        .route("/v1/webhooks/{id}/history", get(webhook_history))
        .route("/v1/webhooks/{id}/deliveries", get(list_deliveries))
        .route("/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", post(redeliver))
}

/// Which endpoints the caller manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Operators: every endpoint, gateway-wide ones included.
    All,
    /// An `admin` key: its own organization's endpoints.
    Organization(Uuid),
}

impl Scope {
    fn of(principal: &Principal) -> ApiResult<Self> {
        match principal {
            Principal::Operator { .. } => Ok(Scope::All),
            Principal::ApiKey { organization_id, permission: Permission::Admin, .. } => {
                Ok(Scope::Organization(*organization_id))
            }
            Principal::ApiKey { .. } => Err(ApiError::forbidden("managing webhooks needs the `admin` permission")),
        }
    }

    fn sees(self, organization_id: Option<Uuid>) -> bool {
        match self {
            Scope::All => true,
            Scope::Organization(own) => organization_id == Some(own),
        }
    }

    fn filter(self) -> Option<Uuid> {
        match self {
            Scope::All => None,
            Scope::Organization(own) => Some(own),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDto {
    pub id: Uuid,
    pub object: &'static str,
    /// `null`: a gateway-wide endpoint (operators only) that receives every event.
    pub organization_id: Option<Uuid>,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The sequence of the last event applied.
    pub version: i64,
}

/// Create and rotate answers: the endpoint and its signing secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookWithSecretDto {
    #[serde(flatten)]
    pub endpoint: WebhookDto,
    /// `whsec_...`: verify deliveries with it (Standard Webhooks). Never answered again.
    pub secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// `http` or `https`, at most 2,048 characters, no `user:password@`.
    pub url: String,
    pub description: Option<String>,
    /// From the fixed list (see `GET /v1/webhooks` docs); at least one.
    pub event_types: Vec<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Operators: the organization, or absent/null for a gateway-wide endpoint.
    /// `admin` keys: absent or their own organization.
    pub organization_id: Option<Uuid>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    pub url: Option<String>,
    /// `null` or `""` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: Uuid,
    version: i64,
    organization_id: Option<Uuid>,
    url: String,
    description: Option<String>,
    event_types: Vec<String>,
    enabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<EndpointRow> for WebhookDto {
    fn from(row: EndpointRow) -> Self {
        WebhookDto {
            id: row.id,
            object: "webhook_endpoint",
            organization_id: row.organization_id,
            url: row.url,
            description: row.description,
            event_types: row.event_types,
            enabled: row.enabled,
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
        }
    }
}

const ENDPOINT_COLUMNS: &str =
    "id, version, organization_id, url, description, event_types, enabled, created_at, updated_at";

fn not_found() -> ApiError {
    ApiError::not_found("webhook_not_found", "webhook endpoint not found")
}

fn check_event_type_count(types: &[String]) -> ApiResult<()> {
    if types.len() > MAX_EVENT_TYPES_IN_BODY {
        return Err(ApiError::bad_request("invalid_event_type", "too many event types").with_param("event_types"));
    }
    Ok(())
}

/// The live endpoint `id` if the caller may see it (else 404, whoever owns it).
async fn visible(state: &AppState, scope: Scope, id: Uuid) -> ApiResult<WebhookDto> {
    let row: Option<EndpointRow> =
        sqlx::query_as(&format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoint_view WHERE id = $1 AND NOT deleted"))
            .bind(id)
            .fetch_optional(&state.pool)
            .await?;
    match row {
        Some(row) if scope.sees(row.organization_id) => Ok(row.into()),
        _ => Err(not_found()),
    }
}

#[utoipa::path(post, path = "/v1/webhooks", request_body = CreateWebhook, tag = "webhooks",
    responses((status = 201, body = WebhookWithSecretDto), (status = 400), (status = 403), (status = 404),
    (status = 409, description = "32 endpoints already")))]
/// Creates an endpoint and answers its signing secret, once.
///
/// Deliveries follow Standard Webhooks: headers `webhook-id` (the same on every
/// retry: deduplicate on it), `webhook-timestamp` (unix seconds) and
/// `webhook-signature: v1,<signature>`. To verify: key = base64-decode(the secret
/// without `whsec_`); expected = base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<raw body>"));
/// accept when one space-separated `v1,` entry equals it (compare in constant time)
/// and the timestamp is within 5 minutes of your clock.
pub(crate) async fn create_webhook(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> ApiResult<(StatusCode, Json<WebhookWithSecretDto>)> {
    let scope = Scope::of(&principal)?;
    check_event_type_count(&body.event_types)?;
    let organization_id = match (scope, body.organization_id) {
        (Scope::All, org) => org,
        (Scope::Organization(own), None) => Some(own),
        (Scope::Organization(own), Some(org)) if org == own => Some(own),
        // Another tenant's organization does not exist for this caller.
        (Scope::Organization(_), Some(_)) => {
            return Err(ApiError::not_found("organization_not_found", "organization not found"))
        }
    };
    let spec = EndpointSpec {
        url: body.url,
        description: body.description,
        event_types: body.event_types,
        enabled: body.enabled.unwrap_or(true),
    };
    let (id, secret) =
        state.admin.create_webhook(organization_id, spec, &state.webhooks.secrets, &context.actor(&principal)).await?;
    let endpoint = visible(&state, scope, id).await?;
    Ok((StatusCode::CREATED, Json(WebhookWithSecretDto { endpoint, secret })))
}

#[utoipa::path(get, path = "/v1/webhooks", params(PageParams), tag = "webhooks",
    responses((status = 200, body = ListResponse<WebhookDto>), (status = 403)))]
pub(crate) async fn list_webhooks(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ListResponse<WebhookDto>>> {
    let scope = Scope::of(&principal)?;
    let limit = page_limit(params.limit)?;
    let mut rows: Vec<EndpointRow> = sqlx::query_as(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoint_view \
         WHERE NOT deleted AND ($1::uuid IS NULL OR organization_id = $1) AND ($2::uuid IS NULL OR id > $2) \
         ORDER BY id LIMIT $3"
    ))
    .bind(scope.filter())
    .bind(params.after)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok(Json(ListResponse::new(rows.into_iter().map(Into::into).collect(), has_more)))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}", params(("id" = Uuid, Path)), tag = "webhooks",
    responses((status = 200, body = WebhookDto), (status = 403), (status = 404)))]
pub(crate) async fn get_webhook(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<WebhookDto>> {
    let scope = Scope::of(&principal)?;
    Ok(Json(visible(&state, scope, id).await?))
}

#[utoipa::path(patch, path = "/v1/webhooks/{id}", request_body = UpdateWebhook, params(("id" = Uuid, Path)),
    tag = "webhooks", responses((status = 200, body = WebhookDto), (status = 400), (status = 403), (status = 404)))]
pub(crate) async fn update_webhook(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<UpdateWebhook>,
) -> ApiResult<Json<WebhookDto>> {
    let scope = Scope::of(&principal)?;
    visible(&state, scope, id).await?;
    if let Some(types) = &patch.event_types {
        check_event_type_count(types)?;
    }
    let change = |current: &EndpointSpec| EndpointSpec {
        url: patch.url.clone().unwrap_or_else(|| current.url.clone()),
        description: match &patch.description {
            Some(description) => description.clone(),
            None => current.description.clone(),
        },
        event_types: patch.event_types.clone().unwrap_or_else(|| current.event_types.clone()),
        enabled: patch.enabled.unwrap_or(current.enabled),
    };
    state.admin.update_webhook(id, change, &context.actor(&principal)).await?;
    Ok(Json(visible(&state, scope, id).await?))
}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", params(("id" = Uuid, Path)), tag = "webhooks",
    responses((status = 200, body = Deleted), (status = 403), (status = 404)))]
pub(crate) async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Deleted>> {
    let scope = Scope::of(&principal)?;
    visible(&state, scope, id).await?;
    state.admin.delete_webhook(id, &context.actor(&principal)).await?;
    Ok(Json(Deleted { id, object: "webhook_endpoint", deleted: true }))
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate_secret", params(("id" = Uuid, Path)), tag = "webhooks",
    responses((status = 200, body = WebhookWithSecretDto), (status = 403), (status = 404)))]
pub(crate) async fn rotate_webhook_secret(
    State(state): State<AppState>,
    principal: Principal,
    context: RequestContext,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<WebhookWithSecretDto>> {
    let scope = Scope::of(&principal)?;
    visible(&state, scope, id).await?;
    let secret = state.admin.rotate_webhook_secret(id, &state.webhooks.secrets, &context.actor(&principal)).await?;
    Ok(Json(WebhookWithSecretDto { endpoint: visible(&state, scope, id).await?, secret }))
}

#[utoipa::path(get, path = "/v1/webhooks/{id}/history", params(("id" = Uuid, Path)), tag = "audit",
    responses((status = 200, body = ListResponse<AuditEntry>), (status = 403), (status = 404)))]
pub(crate) async fn webhook_history(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ListResponse<AuditEntry>>> {
    let scope = Scope::of(&principal)?;
    let org: Option<Option<Uuid>> =
        sqlx::query_scalar("SELECT organization_id FROM webhook_endpoint_view WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.pool)
            .await?;
    if !org.is_some_and(|org| scope.sees(org)) {
        return Err(not_found());
    }
    let events = event_log::load_stream(&state.pool, WebhookEndpoint::TYPE, &id.to_string(), None).await?;
    Ok(Json(ListResponse::new(events.into_iter().map(Into::into).collect(), false)))
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct AttemptDto {
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    /// `null`: no HTTP answer (refused, timed out).
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    delivery_id: Uuid,
    #[sqlx(flatten)]
    attempt: AttemptDto,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    pub id: Uuid,
    pub object: &'static str,
    pub endpoint_id: Uuid,
    /// Sent as `webhook-id` and the body's `id`: the same on every attempt.
    pub message_id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (given up after 24 h of retries).
    pub status: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    /// The body sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Oldest first.
    pub attempts: Vec<AttemptDto>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: Uuid,
    endpoint_id: Uuid,
    message_id: String,
    event_type: String,
    status: String,
    next_attempt_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    delivered_at: Option<DateTime<Utc>>,
    last_status: Option<i32>,
    last_error: Option<String>,
    body: String,
}

#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", params(("id" = Uuid, Path), PageParams),
    tag = "webhooks", responses((status = 200, body = ListResponse<DeliveryDto>), (status = 403), (status = 404)))]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ListResponse<DeliveryDto>>> {
    let scope = Scope::of(&principal)?;
    visible(&state, scope, id).await?;
    let limit = page_limit(params.limit)?;
    // Newest first; `after` is the last id of the previous page.
    let mut rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT id, endpoint_id, message_id, event_type, status, next_attempt_at, created_at, delivered_at, \
           last_status, last_error, body FROM webhook_deliveries \
         WHERE endpoint_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(id)
    .bind(params.after)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let attempts: Vec<AttemptRow> = sqlx::query_as(
        "SELECT delivery_id, attempt, attempted_at, status_code, latency_ms, error FROM webhook_attempts \
         WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
    )
    .bind(&ids)
    .fetch_all(&state.pool)
    .await?;
    let data = rows
        .into_iter()
        .map(|row| DeliveryDto {
            attempts: attempts
                .iter()
                .filter(|a| a.delivery_id == row.id)
                .map(|a| AttemptDto {
                    attempt: a.attempt.attempt,
                    attempted_at: a.attempt.attempted_at,
                    status_code: a.attempt.status_code,
                    latency_ms: a.attempt.latency_ms,
                    error: a.attempt.error.clone(),
                })
                .collect(),
            id: row.id,
            object: "webhook_delivery",
            endpoint_id: row.endpoint_id,
            message_id: row.message_id,
            event_type: row.event_type,
            next_attempt_at: (row.status == "pending").then_some(row.next_attempt_at),
            status: row.status,
            created_at: row.created_at,
            delivered_at: row.delivered_at,
            last_status: row.last_status,
            last_error: row.last_error,
            payload: serde_json::from_str(&row.body).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(Json(ListResponse::new(data, has_more)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueuedDto {
    /// The delivery (re)queued; see `GET /v1/webhooks/{id}/deliveries`.
    pub delivery_id: Uuid,
    pub object: &'static str,
    pub status: &'static str,
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)), tag = "webhooks",
    responses((status = 202, body = QueuedDto), (status = 403), (status = 404)))]
pub(crate) async fn redeliver(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, delivery_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<(StatusCode, Json<QueuedDto>)> {
    let scope = Scope::of(&principal)?;
    visible(&state, scope, id).await?;
    if !state.admin.redeliver_webhook(id, delivery_id).await? {
        return Err(ApiError::not_found("delivery_not_found", "delivery not found"));
    }
    state.webhooks.wake();
    Ok((StatusCode::ACCEPTED, Json(QueuedDto { delivery_id, object: "webhook_delivery", status: "pending" })))
}

#[utoipa::path(post, path = "/v1/webhooks/{id}/test", params(("id" = Uuid, Path)), tag = "webhooks",
    responses((status = 202, body = QueuedDto), (status = 403), (status = 404)))]
pub(crate) async fn test_webhook(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<(StatusCode, Json<QueuedDto>)> {
    let scope = Scope::of(&principal)?;
    let endpoint = visible(&state, scope, id).await?;
    let delivery_id = state.admin.test_webhook(id, endpoint.organization_id).await?;
    state.webhooks.wake();
    Ok((StatusCode::ACCEPTED, Json(QueuedDto { delivery_id, object: "webhook_delivery", status: "pending" })))
}
