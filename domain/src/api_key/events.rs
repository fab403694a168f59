use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Limits, Permission};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ApiKeyEvent {
    ApiKeyIssued {
        organization_id: Uuid,
        name: String,
        permission: Permission,
        limits: Limits,
        expires_at: Option<DateTime<Utc>>,
        public_id: String,
        secret_hash: String,
        at: DateTime<Utc>,
    },
    ApiKeyRenamed {
        name: String,
        at: DateTime<Utc>,
    },
    ApiKeyPermissionChanged {
        permission: Permission,
        at: DateTime<Utc>,
    },
    ApiKeyLimitsChanged {
        limits: Limits,
        at: DateTime<Utc>,
    },
    ApiKeyExpirySet {
        expires_at: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    },
    ApiKeySecretRotated {
        secret_hash: String,
        at: DateTime<Utc>,
    },
    ApiKeyRevoked {
        at: DateTime<Utc>,
    },
}

impl DomainEvent for ApiKeyEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ApiKeyIssued { .. } => "ApiKeyIssued",
            Self::ApiKeyRenamed { .. } => "ApiKeyRenamed",
            Self::ApiKeyPermissionChanged { .. } => "ApiKeyPermissionChanged",
            Self::ApiKeyLimitsChanged { .. } => "ApiKeyLimitsChanged",
            Self::ApiKeyExpirySet { .. } => "ApiKeyExpirySet",
            Self::ApiKeySecretRotated { .. } => "ApiKeySecretRotated",
            Self::ApiKeyRevoked { .. } => "ApiKeyRevoked",
        }
        .to_string()
    }

    /// 2.0: limits may hold budgets per day, week and total, rates and per-model
    /// rates. A 1.0 payload (monthly limits only) loads as is: every new field
    /// defaults to unlimited.
    fn event_version(&self) -> String {
        match self {
            Self::ApiKeyIssued { .. } | Self::ApiKeyLimitsChanged { .. } => "2.0",
            _ => "1.0",
        }
        .to_string()
    }
}
