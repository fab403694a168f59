use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Limits, Permission};

#[derive(Debug, Clone, PartialEq)]
pub enum ApiKeyCommand {
    /// The caller generates the secret, shows it once and passes only its hash.
    Issue {
        organization_id: Uuid,
        name: String,
        permission: Permission,
        limits: Limits,
        expires_at: Option<DateTime<Utc>>,
        public_id: String,
        secret_hash: String,
        at: DateTime<Utc>,
    },
    Rename {
        name: String,
        at: DateTime<Utc>,
    },
    ChangePermission {
        permission: Permission,
        at: DateTime<Utc>,
    },
    ChangeLimits {
        limits: Limits,
        at: DateTime<Utc>,
    },
    SetExpiry {
        expires_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
    /// The old secret stops working the moment this is recorded.
    RotateSecret {
        secret_hash: String,
        at: DateTime<Utc>,
    },
    Revoke {
        at: DateTime<Utc>,
    },
}
