//! Why a caller is not let in, or not allowed to do something. No HTTP here: the
//! HTTP edge (`http::admin_errors`) answers each with its status and code.

use gaiarouter_domain::Permission;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("invalid or expired token")]
    InvalidToken,
    #[error("this API key has been revoked")]
    KeyRevoked,
    #[error("this API key has expired")]
    KeyExpired,
    #[error("the organization of this API key no longer exists")]
    OrganizationGone,
    /// Known and valid, but not allowed in while its organization is suspended.
    #[error("the organization of this API key is suspended")]
    OrganizationSuspended,
    #[error("this action needs the `{}` permission", .0.as_str())]
    PermissionNeeded(Permission),
    /// A stored key names a permission this build does not know.
    #[error("unknown permission `{0}` stored for an API key")]
    UnknownPermission(String),
    #[error("the key cache lock is poisoned")]
    CachePoisoned,
    #[error("cannot serialize a login event: {0}")]
    Serialization(#[from] serde_json::Error),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl AuthError {
    /// The reason recorded when a known key is turned away (`RequestRefused`);
    /// `None` when there is no key to record it for.
    pub fn refusal_reason(&self) -> Option<&'static str> {
        match self {
            AuthError::KeyRevoked => Some("api_key_revoked"),
            AuthError::KeyExpired => Some("api_key_expired"),
            AuthError::OrganizationSuspended => Some("organization_suspended"),
            _ => None,
        }
    }
}
