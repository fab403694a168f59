use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::Limits;

/// Organization events. Names and versions are stored with every event and are
/// never renamed; a changed payload gets a new version and an upcaster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OrganizationEvent {
    OrganizationCreated {
        name: String,
        limits: Limits,
        at: DateTime<Utc>,
    },
    OrganizationRenamed {
        name: String,
        at: DateTime<Utc>,
    },
    OrganizationLimitsChanged {
        limits: Limits,
        at: DateTime<Utc>,
    },
    OrganizationSuspended {
        reason: Option<String>,
        at: DateTime<Utc>,
    },
    OrganizationReactivated {
        at: DateTime<Utc>,
    },
    OrganizationDeleted {
        at: DateTime<Utc>,
    },
    /// A new event rather than a field of an existing one: organizations created
    /// before it simply have none, so body logging stays off for them.
    OrganizationBodyLoggingChanged {
        enabled: bool,
        at: DateTime<Utc>,
    },
}

impl DomainEvent for OrganizationEvent {
    fn event_type(&self) -> String {
        match self {
            Self::OrganizationCreated { .. } => "OrganizationCreated",
            Self::OrganizationRenamed { .. } => "OrganizationRenamed",
            Self::OrganizationLimitsChanged { .. } => "OrganizationLimitsChanged",
            Self::OrganizationSuspended { .. } => "OrganizationSuspended",
            Self::OrganizationReactivated { .. } => "OrganizationReactivated",
            Self::OrganizationDeleted { .. } => "OrganizationDeleted",
            Self::OrganizationBodyLoggingChanged { .. } => "OrganizationBodyLoggingChanged",
        }
        .to_string()
    }

    /// 2.0: limits may hold budgets per day, week and total, rates and per-model
    /// rates. A 1.0 payload (monthly limits only) loads as is: every new field
    /// defaults to unlimited.
    fn event_version(&self) -> String {
        match self {
            Self::OrganizationCreated { .. } | Self::OrganizationLimitsChanged { .. } => "2.0",
            _ => "1.0",
        }
        .to_string()
    }
}
