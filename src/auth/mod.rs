//! Who is calling: an operator (dashboard user, always admin) or an API key.
//! Management routes accept a JWT from `/v1/auth/login` or an API key directly.

mod actor;
mod argon;
mod error;
pub mod jwt;
pub mod key_cache;
pub mod login_audit;
pub mod password;
pub mod secrets;
pub mod session;
pub mod throttle;

use chrono::Utc;
use gaiarouter_domain::organization::OrganizationStatus;
use gaiarouter_domain::Permission;
use sqlx::PgPool;
use uuid::Uuid;

pub use actor::Actor;
pub use error::AuthError;
use jwt::{JwtKeys, SubjectKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Operator { id: Uuid, username: String },
    ApiKey { id: Uuid, name: String, organization_id: Uuid, permission: Permission },
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        match self {
            Principal::Operator { .. } => true,
            Principal::ApiKey { permission, .. } => *permission == Permission::Admin,
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            Principal::Operator { id, .. } | Principal::ApiKey { id, .. } => *id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Principal::Operator { .. } => "operator",
            Principal::ApiKey { .. } => "api_key",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Principal::Operator { username, .. } => username,
            Principal::ApiKey { name, .. } => name,
        }
    }

    pub fn permission(&self) -> Permission {
        match self {
            Principal::Operator { .. } => Permission::Admin,
            Principal::ApiKey { permission, .. } => *permission,
        }
    }

    /// The organization a non-admin caller is confined to (`None` = all).
    pub fn scope(&self) -> Option<Uuid> {
        match self {
            Principal::ApiKey { organization_id, permission, .. } if *permission != Permission::Admin => {
                Some(*organization_id)
            }
            _ => None,
        }
    }

    pub fn can_see_organization(&self, organization_id: Uuid) -> bool {
        self.scope().is_none_or(|own| own == organization_id)
    }

    pub fn require(&self, needed: Permission) -> Result<(), AuthError> {
        if self.permission().allows(needed) {
            Ok(())
        } else {
            Err(AuthError::PermissionNeeded(needed))
        }
    }

    pub fn require_admin(&self) -> Result<(), AuthError> {
        self.require(Permission::Admin)
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    name: String,
    organization_id: Uuid,
    permission: String,
    secret_hash: String,
    expires_at: Option<chrono::DateTime<Utc>>,
    revoked_at: Option<chrono::DateTime<Utc>>,
    organization_status: Option<String>,
}

/// Refuses revoked, expired and orphaned keys and keys of inactive organizations.
/// The management API (reading the views) and the gateway (reading its cache) both
/// decide with this.
pub(crate) fn check_key_usable(
    revoked: bool,
    expires_at: Option<chrono::DateTime<Utc>>,
    organization: Option<OrganizationStatus>,
) -> Result<(), AuthError> {
    if revoked {
        return Err(AuthError::KeyRevoked);
    }
    if expires_at.is_some_and(|expiry| expiry <= Utc::now()) {
        return Err(AuthError::KeyExpired);
    }
    match organization {
        Some(OrganizationStatus::Active) => Ok(()),
        Some(OrganizationStatus::Suspended) => Err(AuthError::OrganizationSuspended),
        _ => Err(AuthError::OrganizationGone),
    }
}

const KEY_QUERY: &str = "SELECT k.id, k.name, k.organization_id, k.permission, k.secret_hash, k.expires_at, \
     k.revoked_at, o.status AS organization_status \
     FROM api_key_view k LEFT JOIN organization_view o ON o.id = k.organization_id";

impl KeyRow {
    fn into_principal(self) -> Result<Principal, AuthError> {
        let organization = self.organization_status.as_deref().and_then(OrganizationStatus::parse);
        check_key_usable(self.revoked_at.is_some(), self.expires_at, organization)?;
        let permission =
            Permission::parse(&self.permission).ok_or_else(|| AuthError::UnknownPermission(self.permission.clone()))?;
        Ok(Principal::ApiKey { id: self.id, name: self.name, organization_id: self.organization_id, permission })
    }
}

/// Authenticates a full API key (`gr-<public>-<secret>`).
pub async fn authenticate_api_key(pool: &PgPool, presented: &str) -> Result<Principal, AuthError> {
    Ok(authenticate_api_key_session(pool, presented).await?.0)
}

/// Authenticates a full API key and answers the session version a token minted
/// from it must carry (a digest of its current secret hash: rotation changes it).
pub async fn authenticate_api_key_session(pool: &PgPool, presented: &str) -> Result<(Principal, String), AuthError> {
    let invalid = || AuthError::InvalidApiKey;
    let (public_id, secret) = secrets::parse_key(presented).ok_or_else(invalid)?;
    let row: Option<KeyRow> =
        sqlx::query_as(&format!("{KEY_QUERY} WHERE k.public_id = $1")).bind(public_id).fetch_optional(pool).await?;
    let row = row.ok_or_else(invalid)?;
    if !secrets::secret_matches(secret, &row.secret_hash) {
        return Err(invalid());
    }
    let version = session::key_version(&row.secret_hash);
    Ok((row.into_principal()?, version))
}

/// Authenticates a session token; the subject must still be valid now and still
/// at the session version the token was minted at (a rotated or revoked key's, a
/// disabled or deleted operator's, or a changed password's tokens stop working at
/// once). The version comes from the same view row that is read anyway, so this
/// costs no extra round trip, and every replica sees it.
pub async fn authenticate_jwt(pool: &PgPool, keys: &JwtKeys, token: &str) -> Result<Principal, AuthError> {
    let invalid = || AuthError::InvalidToken;
    let claims = keys.verify(token).ok_or_else(invalid)?;
    let presented = claims.sv.as_deref().ok_or_else(invalid)?;
    match claims.kind {
        SubjectKind::Operator => {
            let row: Option<(String, i64)> = sqlx::query_as(
                "SELECT username, session_version FROM operator_view WHERE id = $1 AND NOT disabled AND NOT deleted",
            )
            .bind(claims.sub)
            .fetch_optional(pool)
            .await?;
            match row {
                Some((username, version)) if session::same_version(presented, &version.to_string()) => {
                    Ok(Principal::Operator { id: claims.sub, username })
                }
                _ => Err(invalid()),
            }
        }
        SubjectKind::ApiKey => {
            let row: Option<KeyRow> =
                sqlx::query_as(&format!("{KEY_QUERY} WHERE k.id = $1")).bind(claims.sub).fetch_optional(pool).await?;
            let row = row.ok_or_else(invalid)?;
            if !session::same_version(presented, &session::key_version(&row.secret_hash)) {
                return Err(invalid());
            }
            row.into_principal()
        }
    }
}
