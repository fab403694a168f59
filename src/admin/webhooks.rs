//! Webhook endpoint use cases. The signing secret is made here and exists in
//! clear only in the answers to create and rotate; what is recorded is sealed.
//! Who may see which endpoint (organization scope) is decided by the caller.

use chrono::Utc;
use gaiarouter_domain::webhook::{EndpointSpec, WebhookCommand, WebhookEndpoint, WebhookEndpointState};
use gaiarouter_projections::webhook_outbox::DELIVERIES_CHANNEL;
use uuid::Uuid;

use super::{Actor, AdminError, AdminService};
use crate::webhooks::crypto::{generate_signing_secret, CryptoError};
use crate::webhooks::SecretBox;

/// Endpoints per organization (and gateway-wide) at most: each costs a delivery
/// per subscribed event, and a hostile tenant must not fan one event out without end.
pub const MAX_ENDPOINTS_PER_ORGANIZATION: i64 = 32;

/// Serializes endpoint creation per organization so the cap holds ("webhooks").
const WEBHOOKS_LOCK: i64 = 0x7765_6268_6f6f_6b73;

impl From<CryptoError> for AdminError {
    fn from(error: CryptoError) -> Self {
        AdminError::Store(error.to_string())
    }
}

impl AdminService {
    /// Creates an endpoint; answers its id and its signing secret (shown once).
    pub async fn create_webhook(
        &self,
        organization_id: Option<Uuid>,
        spec: EndpointSpec,
        secrets: &SecretBox,
        actor: &Actor,
    ) -> Result<(Uuid, String), AdminError> {
        let spec = spec.normalized();
        spec.validate_for(organization_id.is_some()).map_err(gaiarouter_domain::webhook::WebhookError::from)?;
        let mut lock = self.pool.begin().await?;
        let lock_key = organization_id.map_or(WEBHOOKS_LOCK, |org| WEBHOOKS_LOCK ^ (org.as_u128() as i64));
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(lock_key).execute(&mut *lock).await?;
        if let Some(org) = organization_id {
            let live: Option<Uuid> =
                sqlx::query_scalar("SELECT id FROM organization_view WHERE id = $1 AND status <> 'deleted'")
                    .bind(org)
                    .fetch_optional(&mut *lock)
                    .await?;
            if live.is_none() {
                return Err(AdminError::not_found("organization_not_found", "organization not found"));
            }
        }
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_endpoint_view WHERE NOT deleted AND organization_id IS NOT DISTINCT FROM $1",
        )
        .bind(organization_id)
        .fetch_one(&mut *lock)
        .await?;
        if count >= MAX_ENDPOINTS_PER_ORGANIZATION {
            return Err(AdminError::conflict(
                "too_many_webhooks",
                format!("at most {MAX_ENDPOINTS_PER_ORGANIZATION} webhook endpoints per organization"),
            ));
        }
        let id = Uuid::now_v7();
        let secret = generate_signing_secret();
        let sealed = secrets.seal(id, &secret)?;
        let command =
            || WebhookCommand::Create { organization_id, spec: spec.clone(), secret: sealed.clone(), at: Utc::now() };
        self.execute(&self.webhooks, id, command, actor).await?;
        lock.commit().await?;
        Ok((id, secret))
    }

    /// The live endpoint `id`, as folded from its events.
    pub async fn current_webhook(&self, id: Uuid) -> Result<WebhookEndpointState, AdminError> {
        let (endpoint, _) =
            gaiarouter_projections::event_log::load_aggregate::<WebhookEndpoint>(&self.pool, &id.to_string(), None)
                .await?;
        match endpoint.state {
            Some(state) if !state.deleted => Ok(state),
            _ => Err(AdminError::not_found("webhook_not_found", "webhook endpoint not found")),
        }
    }

    /// Replaces the endpoint's spec with what `change` makes of the current one.
    pub async fn update_webhook(
        &self,
        id: Uuid,
        change: impl Fn(&EndpointSpec) -> EndpointSpec,
        actor: &Actor,
    ) -> Result<(), AdminError> {
        let spec = change(&self.current_webhook(id).await?.spec).normalized();
        self.execute(&self.webhooks, id, || WebhookCommand::Update { spec: spec.clone(), at: Utc::now() }, actor)
            .await?;
        Ok(())
    }

    /// A new signing secret; the old one stops signing at once. Answers the new one.
    pub async fn rotate_webhook_secret(
        &self,
        id: Uuid,
        secrets: &SecretBox,
        actor: &Actor,
    ) -> Result<String, AdminError> {
        let secret = generate_signing_secret();
        let sealed = secrets.seal(id, &secret)?;
        self.execute(
            &self.webhooks,
            id,
            || WebhookCommand::RotateSecret { secret: sealed.clone(), at: Utc::now() },
            actor,
        )
        .await?;
        Ok(secret)
    }

    /// Deletes the endpoint; what was still waiting to be sent to it is given up.
    pub async fn delete_webhook(&self, id: Uuid, actor: &Actor) -> Result<(), AdminError> {
        self.execute(&self.webhooks, id, || WebhookCommand::Delete { at: Utc::now() }, actor).await?;
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deleted', updated_at = now() \
             WHERE endpoint_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sends delivery `delivery` of endpoint `endpoint` again: a new attempt with
    /// the same idempotency key. False when there is no such delivery.
    pub async fn redeliver_webhook(&self, endpoint: Uuid, delivery: Uuid) -> Result<bool, AdminError> {
        let updated = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now() \
             WHERE id = $1 AND endpoint_id = $2",
        )
        .bind(delivery)
        .bind(endpoint)
        .execute(&self.pool)
        .await?;
        sqlx::query("SELECT pg_notify($1, '')").bind(DELIVERIES_CHANNEL).execute(&self.pool).await?;
        Ok(updated.rows_affected() == 1)
    }

    /// Queues a `webhook.test` ping to the endpoint; answers the delivery id.
    pub async fn test_webhook(&self, endpoint: Uuid, organization_id: Option<Uuid>) -> Result<Uuid, AdminError> {
        let delivery = Uuid::now_v7();
        let message_id = format!("msg_test_{}", delivery.simple());
        let body = serde_json::json!({
            "id": message_id,
            "type": "webhook.test",
            "created_at": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "organization_id": organization_id,
            "data": {"endpoint_id": endpoint},
        })
        .to_string();
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_position, message_id, event_type, organization_id, body) \
             VALUES ($1, $2, NULL, $3, 'webhook.test', $4, $5)",
        )
        .bind(delivery)
        .bind(endpoint)
        .bind(&message_id)
        .bind(organization_id)
        .bind(body)
        .execute(&self.pool)
        .await?;
        sqlx::query("SELECT pg_notify($1, '')").bind(DELIVERIES_CHANNEL).execute(&self.pool).await?;
        Ok(delivery)
    }
}
