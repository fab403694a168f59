//! One client connection: hyper's HTTP/1.1 state machine, driven together with
//! the connection's clock and the server's shutdown signal.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::ServiceExt;

use super::clock::{Clock, Tracked, Watched};
use crate::config::ServerTimeouts;

/// How long a connection that timed out may take to close cleanly before it is
/// dropped (it has no request in flight, so nothing is lost).
const CLOSE_GRACE: Duration = Duration::from_secs(1);

pub(super) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    timeouts: ServerTimeouts,
    mut stopping: watch::Receiver<bool>,
) {
    // SSE answers end with small writes ([DONE] after the commit); without NODELAY
    // each would wait for the client's delayed ACK (~40 ms).
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    let clock = Clock::new();
    let io = TokioIo::new(Watched::new(stream, clock.clone()));
    let requests = clock.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let in_flight = requests.begin_request();
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await?;
            Ok::<_, Infallible>(response.map(|body| Tracked { body, _in_flight: in_flight }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The clock times headers itself: hyper's own header timer also runs while
    // a keep-alive connection waits, which would make the idle timeout moot.
    builder.header_read_timeout(None);
    let connection = builder.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let mut shutting_down = false;
    loop {
        let deadline = clock.deadline(&timeouts);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, %peer, "connection ended with an error");
                }
                return;
            }
            changed = stopping.changed(), if !shutting_down => {
                // Closed sender: the server is gone; stop just the same.
                let _ = changed;
                shutting_down = true;
                // Idle connections close now; requests in flight are finished first.
                connection.as_mut().graceful_shutdown();
            }
            () = sleep_until(deadline) => {
                if clock.deadline(&timeouts).is_some_and(|due| due <= tokio::time::Instant::now()) {
                    tracing::debug!(%peer, "closing a connection that sent no complete request in time");
                    connection.as_mut().graceful_shutdown();
                    // Ignored: the connection is dropped either way.
                    let _ = tokio::time::timeout(CLOSE_GRACE, connection.as_mut()).await;
                    return;
                }
            }
            () = clock.changed() => {}
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
