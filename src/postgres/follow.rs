//! Following other processes' admin changes. Every admin event is announced on
//! one NOTIFY channel (`Aggregate:<id>`); in-memory views of the admin state (the
//! key cache, the route table) listen and refresh what changed. Notifications sent
//! while a listener was not connected are lost, so after any interruption — and
//! whenever PostgreSQL reports a dropped connection — the whole view is reloaded.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gaiarouter_projections::event_log::EventLogError;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::task::JoinHandle;

/// The channel admin events are announced on.
pub const ADMIN_CHANNEL: &str = "gaiarouter_admin";

/// An in-memory view that follows the admin events of every process.
pub trait FollowsAdminEvents: Send + Sync + 'static {
    /// For log lines: "key cache", "route table".
    const NAME: &'static str;

    /// Replaces the whole view with what the database holds now.
    fn reload(&self, pool: &PgPool) -> impl Future<Output = Result<(), EventLogError>> + Send;

    /// Refreshes what one notification (`Aggregate:<id>`) names; others are ignored.
    fn apply(&self, pool: &PgPool, payload: &str) -> impl Future<Output = Result<(), EventLogError>> + Send;
}

/// Follows until the returned task is aborted, reconnecting after any failure.
pub fn follow<T: FollowsAdminEvents>(view: Arc<T>, pool: PgPool) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(error) = listen(view.as_ref(), &pool).await {
                tracing::warn!(%error, view = T::NAME, "admin event listener interrupted; reconnecting");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

async fn listen<T: FollowsAdminEvents>(view: &T, pool: &PgPool) -> Result<(), EventLogError> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(ADMIN_CHANNEL).await?;
    // Anything that changed while not listening is picked up here.
    view.reload(pool).await?;
    loop {
        match listener.try_recv().await? {
            Some(notification) => {
                if let Err(error) = view.apply(pool, notification.payload()).await {
                    tracing::warn!(%error, view = T::NAME, "refreshing after an admin event failed; reloading all");
                    view.reload(pool).await?;
                }
            }
            // The connection dropped and was re-established: reload.
            None => view.reload(pool).await?,
        }
    }
}
