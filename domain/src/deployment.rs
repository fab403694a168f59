//! Deployment events: facts about a route's deployment that the gateway observes
//! (not commands anyone gives). Each is its own one-event aggregate (a fresh id,
//! sequence 1), so writers on several processes never conflict.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

pub const AGGREGATE_TYPE: &str = "Deployment";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeploymentEvent {
    /// The router skips the deployment until `until` (then one request probes it).
    DeploymentCooledDown {
        route: String,
        deployment: String,
        /// `None` when the route changed since and no longer names the deployment.
        provider: Option<String>,
        /// `rate_limited` (the upstream answered 429) or `failures`.
        reason: String,
        consecutive_failures: u32,
        cooldown_seconds: u64,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    },
}

impl DomainEvent for DeploymentEvent {
    fn event_type(&self) -> String {
        match self {
            Self::DeploymentCooledDown { .. } => "DeploymentCooledDown",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1.0".to_string()
    }
}
