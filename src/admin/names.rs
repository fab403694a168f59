//! Unique names in an event-sourced system: a name is claimed in `name_claims`
//! before the command that takes it is recorded, and released once it is freed
//! (rename, delete) or the command fails. Claims whose command never landed (a
//! crash in between) are released at the next start.

use sqlx::PgPool;
use uuid::Uuid;

use super::AdminError;

pub const ORGANIZATION: &str = "organization";
pub const OPERATOR: &str = "operator";
pub const ROUTE: &str = "route";

fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Claims `name` for `owner`. Answers whether this call made the claim (false when
/// the owner already held it); a name held by another owner is a 409.
pub async fn claim(pool: &PgPool, scope: &str, name: &str, owner: Uuid) -> Result<bool, AdminError> {
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO name_claims (scope, name_key, owner_id) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING RETURNING owner_id",
    )
    .bind(scope)
    .bind(key(name))
    .bind(owner)
    .fetch_optional(pool)
    .await?;
    if inserted.is_some() {
        return Ok(true);
    }
    let holder: Option<Uuid> =
        sqlx::query_scalar("SELECT owner_id FROM name_claims WHERE scope = $1 AND name_key = $2")
            .bind(scope)
            .bind(key(name))
            .fetch_optional(pool)
            .await?;
    match holder {
        Some(holder) if holder == owner => Ok(false),
        // The claim vanished between insert and select (released concurrently): treat as taken.
        _ => Err(AdminError::Conflict {
            code: "name_taken",
            param: Some("name".into()),
            message: format!("the name `{}` is already in use", name.trim()),
        }),
    }
}

pub fn same_name(a: &str, b: &str) -> bool {
    key(a) == key(b)
}

pub async fn release(pool: &PgPool, scope: &str, name: &str, owner: Uuid) -> Result<(), AdminError> {
    sqlx::query("DELETE FROM name_claims WHERE scope = $1 AND name_key = $2 AND owner_id = $3")
        .bind(scope)
        .bind(key(name))
        .bind(owner)
        .execute(pool)
        .await?;
    Ok(())
}

/// Releases claims older than a minute that no live aggregate holds as its name.
pub async fn release_stale_claims(pool: &PgPool) -> Result<(), AdminError> {
    sqlx::query(
        "DELETE FROM name_claims c WHERE c.claimed_at < now() - interval '1 minute' AND ( \
           (c.scope = $1 AND NOT EXISTS (SELECT 1 FROM organization_view o WHERE o.id = c.owner_id \
              AND lower(o.name) = c.name_key AND o.status <> 'deleted')) \
           OR (c.scope = $2 AND NOT EXISTS (SELECT 1 FROM operator_view p WHERE p.id = c.owner_id \
              AND lower(p.username) = c.name_key AND NOT p.deleted)) \
           OR (c.scope = $3 AND NOT EXISTS (SELECT 1 FROM route_view r WHERE r.id = c.owner_id \
              AND lower(r.name) = c.name_key AND NOT r.deleted)))",
    )
    .bind(ORGANIZATION)
    .bind(OPERATOR)
    .bind(ROUTE)
    .execute(pool)
    .await?;
    Ok(())
}
