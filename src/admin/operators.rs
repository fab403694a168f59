//! Operator (dashboard user) use cases.

use chrono::Utc;
use gaiarouter_domain::operator::OperatorCommand;
use uuid::Uuid;

use super::names::{self, OPERATOR};
use super::{Actor, AdminService};
use crate::auth::password::{self, PasswordError};
use crate::error::ApiError;

fn password_error(error: PasswordError) -> ApiError {
    match error {
        PasswordError::TooShort => ApiError::bad_request("weak_password", error.to_string()).with_param("password"),
        PasswordError::Hashing(cause) => ApiError::internal(cause),
    }
}

impl AdminService {
    pub async fn create_operator(&self, username: &str, password: String, actor: &Actor) -> Result<Uuid, ApiError> {
        let username = gaiarouter_domain::normalize_name(username)
            .map_err(|e| ApiError::bad_request("invalid_name", e.to_string()).with_param("username"))?;
        let password_hash = password::hash_password(password).await.map_err(password_error)?;
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

    pub async fn change_operator_password(&self, id: Uuid, password: String, actor: &Actor) -> Result<(), ApiError> {
        let password_hash = password::hash_password(password).await.map_err(password_error)?;
        let command = || OperatorCommand::ChangePassword { password_hash: password_hash.clone(), at: Utc::now() };
        self.execute(&self.operators, id, command, actor).await?;
        Ok(())
    }

    pub async fn disable_operator(&self, id: Uuid, actor: &Actor) -> Result<(), ApiError> {
        self.execute(&self.operators, id, || OperatorCommand::Disable { at: Utc::now() }, actor).await?;
        Ok(())
    }

    pub async fn operator_count(&self) -> Result<i64, ApiError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM operator_view").fetch_one(&self.pool).await?)
    }

    /// Finds an active operator by username and checks the password.
    pub async fn verify_operator(&self, username: &str, password: &str) -> Result<Option<(Uuid, String)>, ApiError> {
        let row: Option<(Uuid, String, String, bool)> = sqlx::query_as(
            "SELECT id, username, password_hash, disabled FROM operator_view WHERE lower(username) = lower($1)",
        )
        .bind(username.trim())
        .fetch_optional(&self.pool)
        .await?;
        // Verify against a dummy hash when the user is unknown so timing does not reveal it.
        const DUMMY: &str =
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0q5vS2bz5l3j3gYbUuS0Jw1y8pQx1w3m2H5bN8m3k4E";
        let (hash, found) = match &row {
            Some((_, _, hash, false)) => (hash.clone(), true),
            _ => (DUMMY.to_string(), false),
        };
        let ok = password::verify_password(password.to_string(), hash).await;
        Ok(match row {
            Some((id, username, _, false)) if ok && found => Some((id, username)),
            _ => None,
        })
    }
}
