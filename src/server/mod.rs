//! Serves HTTP/1.1 with hyper directly, because `axum::serve` cannot bound how
//! long a client may take to send its headers or how long an idle keep-alive
//! connection may stay open (slowloris). Each connection is timed by a
//! [`clock::Clock`]; the request body deadline is a router layer
//! (`http::body_deadline`), so no answer, however long (SSE), is ever cut.
//! Connections past the configured maximum are closed as soon as accepted.

mod clock;
mod connection;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::config::ServerLimits;

/// After an accept error that is not about one connection (e.g. no file
/// descriptors left), wait a little instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);

/// Serves until `shutdown` resolves, then stops accepting, closes idle
/// connections and waits for the requests in flight to finish, for at most the
/// shutdown grace; what still runs then is cut (a cut stream records itself as
/// disconnected when its handler is dropped).
pub async fn serve(
    router: Router,
    listener: TcpListener,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (stop, stopping) = watch::channel(false);
    // Semaphore::new panics past MAX_PERMITS; no real server gets near it.
    let slots = Arc::new(Semaphore::new(limits.max_connections.min(Semaphore::MAX_PERMITS)));
    // Warned once per overload, not per refused connection (that would flood the log).
    let mut refusing = false;
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match Arc::clone(&slots).try_acquire_owned() {
                    Ok(slot) => {
                        refusing = false;
                        let connection = connection::run(stream, peer, router.clone(), limits.timeouts, stopping.clone());
                        connections.spawn(async move {
                            connection.await;
                            drop(slot);
                        });
                    }
                    // Closed at once: waiting in the backlog would only hide the overload.
                    Err(_) => {
                        drop(stream);
                        if !refusing {
                            tracing::warn!(max = limits.max_connections, "refusing connections: too many open");
                            refusing = true;
                        }
                    }
                },
                Err(error) if is_connection_error(&error) => {}
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Reaps finished connections so the set only holds live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Ignored error: no connection is listening, so there is nothing to stop.
    let _ = stop.send(true);
    let drained =
        tokio::time::timeout(limits.shutdown_grace, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            cut = connections.len(),
            grace_seconds = limits.shutdown_grace.as_secs(),
            "cutting the connections still open after the shutdown grace"
        );
        connections.shutdown().await;
    }
}

/// Errors that end one half-accepted connection, not the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
