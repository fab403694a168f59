use gaiarouter_domain::organization::Organization;
use sqlx::PgPool;
use uuid::Uuid;

use super::{limits_to_json, to_i64, AdminView};

impl AdminView for Organization {
    const TABLE: &'static str = "organization_view";

    async fn upsert(&self, pool: &PgPool, id: Uuid, version: i64) -> Result<(), sqlx::Error> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO organization_view \
               (id, version, name, status, monthly_requests, monthly_tokens, monthly_cost_nanos, created_at, updated_at, limits, log_bodies) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, name = EXCLUDED.name, \
               status = EXCLUDED.status, monthly_requests = EXCLUDED.monthly_requests, \
               monthly_tokens = EXCLUDED.monthly_tokens, monthly_cost_nanos = EXCLUDED.monthly_cost_nanos, \
               updated_at = EXCLUDED.updated_at, limits = EXCLUDED.limits, log_bodies = EXCLUDED.log_bodies \
             WHERE organization_view.version < EXCLUDED.version",
        )
        .bind(id)
        .bind(version)
        .bind(&state.name)
        .bind(state.status.as_str())
        .bind(to_i64(state.limits.monthly_requests))
        .bind(to_i64(state.limits.monthly_tokens))
        .bind(state.limits.monthly_cost.map(|m| m.nanos()))
        .bind(state.created_at)
        .bind(state.updated_at)
        .bind(limits_to_json(&state.limits))
        .bind(state.log_bodies)
        .execute(pool)
        .await?;
        Ok(())
    }
}
