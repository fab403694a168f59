use gaiarouter_domain::route::Route;
use sqlx::PgPool;
use uuid::Uuid;

use super::AdminView;

impl AdminView for Route {
    const TABLE: &'static str = "route_view";

    async fn upsert(&self, pool: &PgPool, id: Uuid, version: i64) -> Result<(), sqlx::Error> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        let spec = serde_json::to_value(&state.spec).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query(
            "INSERT INTO route_view (id, version, name, spec, deleted, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, name = EXCLUDED.name, \
               spec = EXCLUDED.spec, deleted = EXCLUDED.deleted, updated_at = EXCLUDED.updated_at \
             WHERE route_view.version < EXCLUDED.version",
        )
        .bind(id)
        .bind(version)
        .bind(&state.spec.name)
        .bind(spec)
        .bind(state.deleted)
        .bind(state.created_at)
        .bind(state.updated_at)
        .execute(pool)
        .await?;
        Ok(())
    }
}
