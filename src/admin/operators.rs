//! Operator (dashboard user) use cases.
//!
//! Rules beyond the aggregate's own: nobody disables or deletes the last active
//! operator, and nobody disables or deletes themselves (both would lock people
//! out). These span several operators, so they run under a Postgres advisory lock
//! (one at a time across replicas). A deleted operator's username is released: the
//! audit trail identifies operators by id, and reusing a name (re-hiring someone)
//! is a normal need.

use chrono::Utc;
use gaiarouter_domain::operator::OperatorCommand;
use sqlx::PgPool;
use uuid::Uuid;

use super::names::{self, OPERATOR};
use super::{Actor, AdminError, AdminService};
use crate::auth::password;

/// The advisory lock key serializing operator status changes ("oper" in ASCII).
const OPERATOR_STATUS_LOCK: i64 = 0x6f70_6572;

/// The result of checking a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginCheck {
    Verified {
        id: Uuid,
        username: String,
        session_version: i64,
    },
    /// The username exists (possibly disabled) but the password is wrong or the
    /// operator may not log in.
    Refused,
    UnknownUser,
}

/// An operator the management API may show.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OperatorRow {
    pub id: Uuid,
    pub version: i64,
    pub username: String,
    pub disabled: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

const OPERATOR_COLUMNS: &str = "id, version, username, disabled, created_at, updated_at";

pub async fn list_operators(pool: &PgPool) -> Result<Vec<OperatorRow>, AdminError> {
    let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operator_view WHERE NOT deleted ORDER BY lower(username), id");
    Ok(sqlx::query_as(&sql).fetch_all(pool).await?)
}

pub async fn find_operator(pool: &PgPool, id: Uuid) -> Result<Option<OperatorRow>, AdminError> {
    let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operator_view WHERE id = $1 AND NOT deleted");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?)
}

pub async fn find_operator_by_username(pool: &PgPool, username: &str) -> Result<Option<OperatorRow>, AdminError> {
    let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operator_view WHERE lower(username) = lower($1) AND NOT deleted");
    Ok(sqlx::query_as(&sql).bind(username.trim()).fetch_optional(pool).await?)
}

fn operator_not_found() -> AdminError {
    AdminError::not_found("operator_not_found", "operator not found")
}

fn refuse_self(id: Uuid, actor: &Actor, what: &str) -> Result<(), AdminError> {
    if actor.kind == "operator" && actor.id == id.to_string() {
        return Err(AdminError::conflict(
            "self_lockout",
            format!("an operator cannot {what} itself; ask another operator"),
        ));
    }
    Ok(())
}

impl AdminService {
    pub async fn create_operator(&self, username: &str, password: String, actor: &Actor) -> Result<Uuid, AdminError> {
        let username = gaiarouter_domain::normalize_name(username)
            .map_err(|e| AdminError::invalid("invalid_name", "username", e.to_string()))?;
        let password_hash = password::hash_password(password).await?;
        let id = Uuid::now_v7();
        names::claim(&self.pool, OPERATOR, &username, id).await?;
        let command = || OperatorCommand::Create {
            username: username.clone(),
            password_hash: password_hash.clone(),
            at: Utc::now(),
        };
        if let Err(error) = self.execute(&self.operators, id, command, actor).await {
            names::release(&self.pool, OPERATOR, &username, id).await?;
            return Err(error);
        }
        Ok(id)
    }

    /// Sets a new password (ending the operator's sessions). With `current`, the
    /// operator's present password must match first (changing one's own password).
    pub async fn change_operator_password(
        &self,
        id: Uuid,
        password: String,
        current: Option<String>,
        actor: &Actor,
    ) -> Result<(), AdminError> {
        password::check_length(&password)?;
        if let Some(current) = current {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT password_hash FROM operator_view WHERE id = $1 AND NOT deleted")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
            let stored = stored.ok_or_else(operator_not_found)?;
            if !password::verify_password(current, stored).await? {
                return Err(AdminError::Forbidden {
                    param: Some("current_password".into()),
                    message: "the current password is wrong".into(),
                });
            }
        }
        let password_hash = password::hash_password(password).await?;
        let command = || OperatorCommand::ChangePassword { password_hash: password_hash.clone(), at: Utc::now() };
        self.execute(&self.operators, id, command, actor).await?;
        Ok(())
    }

    pub async fn disable_operator(&self, id: Uuid, actor: &Actor) -> Result<(), AdminError> {
        refuse_self(id, actor, "disable")?;
        self.with_status_lock(id, "disable", || {
            self.execute(&self.operators, id, || OperatorCommand::Disable { at: Utc::now() }, actor)
        })
        .await
    }

    pub async fn enable_operator(&self, id: Uuid, actor: &Actor) -> Result<(), AdminError> {
        self.execute(&self.operators, id, || OperatorCommand::Enable { at: Utc::now() }, actor).await?;
        Ok(())
    }

    pub async fn delete_operator(&self, id: Uuid, actor: &Actor) -> Result<(), AdminError> {
        refuse_self(id, actor, "delete")?;
        let username = find_operator(&self.pool, id).await?.ok_or_else(operator_not_found)?.username;
        self.with_status_lock(id, "delete", || {
            self.execute(&self.operators, id, || OperatorCommand::Delete { at: Utc::now() }, actor)
        })
        .await?;
        names::release(&self.pool, OPERATOR, &username, id).await
    }

    /// Ends every session of the operator (tokens minted before now stop working).
    pub async fn end_operator_sessions(&self, id: Uuid, actor: &Actor) -> Result<(), AdminError> {
        self.execute(&self.operators, id, || OperatorCommand::EndSessions { at: Utc::now() }, actor).await?;
        Ok(())
    }

    /// Runs a command that takes `id` out of the active operators, unless it is the
    /// last active one. The check and the command run under one advisory lock, so
    /// two operators disabling each other at once cannot leave nobody.
    async fn with_status_lock<F, Fut, T>(&self, id: Uuid, what: &str, command: F) -> Result<(), AdminError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, AdminError>>,
    {
        let mut lock = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(OPERATOR_STATUS_LOCK).execute(&mut *lock).await?;
        let result = async {
            let others: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM operator_view WHERE NOT disabled AND NOT deleted AND id <> $1",
            )
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
            let target_active: Option<bool> =
                sqlx::query_scalar("SELECT NOT disabled FROM operator_view WHERE id = $1 AND NOT deleted")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
            if target_active == Some(true) && others == 0 {
                return Err(AdminError::conflict(
                    "last_operator",
                    format!("cannot {what} the last active operator: create or enable another one first"),
                ));
            }
            command().await.map(|_| ())
        }
        .await;
        let unlocked =
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(OPERATOR_STATUS_LOCK).execute(&mut *lock).await;
        if unlocked.is_err() {
            // A connection still holding the lock must not go back to the pool.
            drop(lock.detach());
        }
        result
    }

    pub async fn operator_count(&self) -> Result<i64, AdminError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM operator_view").fetch_one(&self.pool).await?)
    }

    /// Finds an active operator by username and checks the password. A place in
    /// the hashing gate is taken first: when it is full the login is refused (429)
    /// before it costs a database round trip.
    pub async fn verify_operator(&self, username: &str, password: &str) -> Result<LoginCheck, AdminError> {
        let admission = password::admit()?;
        let row: Option<(Uuid, String, String, bool, i64)> = sqlx::query_as(
            "SELECT id, username, password_hash, disabled, session_version FROM operator_view \
             WHERE lower(username) = lower($1) AND NOT deleted",
        )
        .bind(username.trim())
        .fetch_optional(&self.pool)
        .await?;
        // Verify against a dummy hash when the user is unknown so timing does not reveal it.
        const DUMMY: &str =
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0q5vS2bz5l3j3gYbUuS0Jw1y8pQx1w3m2H5bN8m3k4E";
        let hash = match &row {
            Some((_, _, hash, false, _)) => hash.clone(),
            _ => DUMMY.to_string(),
        };
        let ok = admission.verify(password.to_string(), hash).await?;
        Ok(match row {
            Some((id, username, _, false, session_version)) if ok => {
                LoginCheck::Verified { id, username, session_version }
            }
            Some(_) => LoginCheck::Refused,
            None => LoginCheck::UnknownUser,
        })
    }
}
