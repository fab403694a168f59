use gaiarouter_domain::operator::Operator;
use sqlx::PgPool;
use uuid::Uuid;

use super::AdminView;

impl AdminView for Operator {
    const TABLE: &'static str = "operator_view";

    async fn upsert(&self, pool: &PgPool, id: Uuid, version: i64) -> Result<(), sqlx::Error> {
        let Some(state) = &self.state else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO operator_view (id, version, username, password_hash, disabled, deleted, session_version, \
               created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, password_hash = EXCLUDED.password_hash, \
               disabled = EXCLUDED.disabled, deleted = EXCLUDED.deleted, \
               session_version = EXCLUDED.session_version, updated_at = EXCLUDED.updated_at \
             WHERE operator_view.version < EXCLUDED.version",
        )
        .bind(id)
        .bind(version)
        .bind(&state.username)
        .bind(&state.password_hash)
        .bind(state.disabled)
        .bind(state.deleted)
        .bind(state.session_version)
        .bind(state.created_at)
        .bind(state.updated_at)
        .execute(pool)
        .await?;
        Ok(())
    }
}
