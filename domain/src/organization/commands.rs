use chrono::{DateTime, Utc};

use crate::Limits;

#[derive(Debug, Clone, PartialEq)]
pub enum OrganizationCommand {
    Create {
        name: String,
        limits: Limits,
        at: DateTime<Utc>,
    },
    Rename {
        name: String,
        at: DateTime<Utc>,
    },
    ChangeLimits {
        limits: Limits,
        at: DateTime<Utc>,
    },
    Suspend {
        reason: Option<String>,
        at: DateTime<Utc>,
    },
    Reactivate {
        at: DateTime<Utc>,
    },
    /// Turns the storing of request and response bodies on or off (off at creation).
    SetBodyLogging {
        enabled: bool,
        at: DateTime<Utc>,
    },
    /// Soft delete: the history stays, the name is freed, nothing changes afterwards.
    Delete {
        at: DateTime<Utc>,
    },
}
