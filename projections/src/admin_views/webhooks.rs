use gaiarouter_domain::webhook::WebhookEndpoint;
use sqlx::PgPool;
use uuid::Uuid;

use super::AdminView;

impl AdminView for WebhookEndpoint {
    const TABLE: &'static str = "webhook_endpoint_view";

    async fn upsert(&self, pool: &PgPool, id: Uuid, version: i64) -> Result<(), sqlx::Error> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO webhook_endpoint_view (id, version, organization_id, url, description, event_types, \
               enabled, secret_nonce, secret_ciphertext, deleted, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, url = EXCLUDED.url, \
               description = EXCLUDED.description, event_types = EXCLUDED.event_types, enabled = EXCLUDED.enabled, \
               secret_nonce = EXCLUDED.secret_nonce, secret_ciphertext = EXCLUDED.secret_ciphertext, \
               deleted = EXCLUDED.deleted, updated_at = EXCLUDED.updated_at \
             WHERE webhook_endpoint_view.version < EXCLUDED.version",
        )
        .bind(id)
        .bind(version)
        .bind(state.organization_id)
        .bind(&state.spec.url)
        .bind(&state.spec.description)
        .bind(&state.spec.event_types)
        .bind(state.spec.enabled)
        .bind(&state.secret.nonce)
        .bind(&state.secret.ciphertext)
        .bind(state.deleted)
        .bind(state.created_at)
        .bind(state.updated_at)
        .execute(pool)
        .await?;
        Ok(())
    }
}
