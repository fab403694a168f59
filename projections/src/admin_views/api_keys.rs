use gaiarouter_domain::api_key::ApiKey;
use sqlx::PgPool;
use uuid::Uuid;

use super::{limits_to_json, to_i64, AdminView};

impl AdminView for ApiKey {
    const TABLE: &'static str = "api_key_view";

    async fn upsert(&self, pool: &PgPool, id: Uuid, version: i64) -> Result<(), sqlx::Error> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO api_key_view \
               (id, version, organization_id, name, permission, monthly_requests, monthly_tokens, \
                monthly_cost_nanos, public_id, secret_hash, expires_at, revoked_at, created_at, updated_at, limits) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, name = EXCLUDED.name, \
               permission = EXCLUDED.permission, monthly_requests = EXCLUDED.monthly_requests, \
               monthly_tokens = EXCLUDED.monthly_tokens, monthly_cost_nanos = EXCLUDED.monthly_cost_nanos, \
               secret_hash = EXCLUDED.secret_hash, expires_at = EXCLUDED.expires_at, \
               revoked_at = EXCLUDED.revoked_at, updated_at = EXCLUDED.updated_at, limits = EXCLUDED.limits \
             WHERE api_key_view.version < EXCLUDED.version",
        )
        .bind(id)
        .bind(version)
        .bind(state.organization_id)
        .bind(&state.name)
        .bind(state.permission.as_str())
        .bind(to_i64(state.limits.monthly_requests))
        .bind(to_i64(state.limits.monthly_tokens))
        .bind(state.limits.monthly_cost.map(|m| m.nanos()))
        .bind(&state.public_id)
        .bind(&state.secret_hash)
        .bind(state.expires_at)
        .bind(state.revoked_at)
        .bind(state.created_at)
        .bind(state.updated_at)
        .bind(limits_to_json(&state.limits))
        .execute(pool)
        .await?;
        Ok(())
    }
}
