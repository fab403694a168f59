//! What every HTTP handler shares: the services, the caches and the configuration
//! of one gateway process. Built by `crate::app` (the wiring), read by `crate::http`;
//! it lives apart from both so neither imports the other's internals.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::admin::AdminService;
use crate::auth::jwt::JwtKeys;
use crate::auth::key_cache::KeyCache;
use crate::auth::throttle::LoginThrottle;
use crate::completion::CompletionService;
use crate::config::Config;
use crate::routing::RouteTable;
use crate::usage::process_lock::ProcessLock;
use gaiarouter_projections::Runner;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub admin: Arc<AdminService>,
    pub jwt: Arc<JwtKeys>,
    pub config: Arc<Config>,
    pub keys: Arc<KeyCache>,
    pub completions: Arc<CompletionService>,
    pub projections: Arc<Runner>,
    pub login_throttle: Arc<LoginThrottle>,
    /// Routes (model names mapped to deployments), current on every process within a second.
    pub routes: Arc<RouteTable>,
    /// Webhook secrets (sealing) and the delivery sender.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// Prometheus series of this process (`GET /metrics`).
    pub metrics: Arc<crate::observability::Metrics>,
    /// Request and response bodies of the organizations that log them.
    pub bodies: Arc<crate::bodies::BodyLog>,
    pub(crate) background: Arc<Background>,
}

/// Tasks that live as long as the server: stopped (and drained) by `shutdown`.
pub(crate) struct Background {
    pub(crate) process_lock: ProcessLock,
    pub(crate) key_listener: JoinHandle<()>,
    pub(crate) route_listener: JoinHandle<()>,
    pub(crate) projector: JoinHandle<()>,
    pub(crate) reservation_sweeper: JoinHandle<()>,
    /// Gives back unused quota leases.
    pub(crate) lease_returner: JoinHandle<()>,
    pub(crate) cooldown_writer: JoinHandle<()>,
    /// Partitions ahead, request log retention.
    pub(crate) storage_maintenance: JoinHandle<()>,
}

impl AppState {
    /// After the server stopped taking requests: write every queued usage event,
    /// then stop the background tasks.
    pub async fn shutdown(&self) {
        self.completions.recorder.shutdown().await;
        self.completions.refusals.shutdown().await;
        self.bodies.shutdown().await;
        // Every request is recorded: what the leases still hold goes back.
        self.background.lease_returner.abort();
        if let Err(error) = self.completions.quotas.give_back_unused(true).await {
            tracing::warn!(%error, "giving back quota leases at shutdown failed; they are released when this process's lock is gone");
        }
        self.background.key_listener.abort();
        self.background.route_listener.abort();
        self.background.projector.abort();
        self.background.reservation_sweeper.abort();
        self.background.storage_maintenance.abort();
        self.webhooks.shutdown().await;
        self.background.cooldown_writer.abort();
        self.background.process_lock.stop();
    }
}
