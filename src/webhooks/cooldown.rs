//! Records `DeploymentCooledDown` events. The health board tells of a cooldown on
//! a request's path; here the news goes into a bounded channel (dropped, counted
//! and logged when full: a completion never waits for this) and a task appends
//! each as its own one-event `Deployment` aggregate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cqrs_es::DomainEvent;
use gaiarouter_domain::deployment::{DeploymentEvent, AGGREGATE_TYPE};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::routing::health::{CooldownListener, CooldownReason};
use crate::routing::RouteTable;

/// Cooldowns waiting to be written; a burst beyond it is dropped, not queued.
const QUEUE: usize = 256;

struct Cooled {
    label: String,
    reason: CooldownReason,
    consecutive_failures: u32,
    cooldown: Duration,
    at: chrono::DateTime<Utc>,
}

pub struct CooldownEvents {
    queue: mpsc::Sender<Cooled>,
    /// Cooldowns not recorded because the queue was full.
    pub dropped: AtomicU64,
}

impl CooldownListener for CooldownEvents {
    fn cooled_down(&self, deployment: &str, reason: CooldownReason, consecutive_failures: u32, cooldown: Duration) {
        let cooled = Cooled { label: deployment.to_string(), reason, consecutive_failures, cooldown, at: Utc::now() };
        if self.queue.try_send(cooled).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(deployment, dropped, "cooldown event queue full: event dropped");
        }
    }
}

/// Starts the writer; answers the listener to give the health board and the task.
pub fn start(pool: PgPool, routes: Arc<RouteTable>) -> (Arc<CooldownEvents>, JoinHandle<()>) {
    let (queue, mut received) = mpsc::channel::<Cooled>(QUEUE);
    let task = tokio::spawn(async move {
        while let Some(cooled) = received.recv().await {
            if let Err(error) = write(&pool, &routes, cooled).await {
                tracing::warn!(%error, "recording a deployment cooldown failed");
            }
        }
    });
    (Arc::new(CooldownEvents { queue, dropped: AtomicU64::new(0) }), task)
}

async fn write(pool: &PgPool, routes: &RouteTable, cooled: Cooled) -> anyhow::Result<()> {
    // Labels are `<route>/<deployment id>`; a route name may itself hold slashes.
    let (route, deployment) = cooled.label.rsplit_once('/').unwrap_or((cooled.label.as_str(), ""));
    let provider = routes
        .get(route)
        .and_then(|spec| spec.deployments.iter().find(|d| d.id == deployment).map(|d| d.provider.clone()));
    let until = cooled.at + chrono::Duration::from_std(cooled.cooldown).unwrap_or_default();
    let event = DeploymentEvent::DeploymentCooledDown {
        route: route.to_string(),
        deployment: deployment.to_string(),
        provider,
        reason: match cooled.reason {
            CooldownReason::RateLimited => "rate_limited",
            CooldownReason::Failures => "failures",
        }
        .to_string(),
        consecutive_failures: cooled.consecutive_failures,
        cooldown_seconds: cooled.cooldown.as_secs(),
        until,
        at: cooled.at,
    };
    let metadata = serde_json::json!({"actor_type": "system", "actor_id": "router", "actor_name": "router"});
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         VALUES ($1, $2, 1, $3, $4, $5, $6)",
    )
    .bind(AGGREGATE_TYPE)
    .bind(Uuid::now_v7().to_string())
    .bind(event.event_type())
    .bind(event.event_version())
    .bind(serde_json::to_value(&event)?)
    .bind(metadata)
    .execute(pool)
    .await?;
    Ok(())
}
