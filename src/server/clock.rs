//! What a connection is doing, so that it can be closed when a client dawdles:
//! waiting for a request (idle timeout), in the middle of a request's headers
//! (header timeout), or busy with requests (no timeout here: bodies have their
//! own deadline and answers such as SSE streams may take as long as they need).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::ServerTimeouts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No request in flight since `since`; `head_started` is when the first byte
    /// of the next request arrived.
    Idle { since: Instant, head_started: Option<Instant> },
    /// Requests whose answers are not finished yet.
    Busy { requests: usize },
}

#[derive(Debug)]
pub(super) struct Clock {
    phase: Mutex<Phase>,
    /// Wakes the connection's driver when the deadline may have moved.
    changed: Notify,
}

impl Phase {
    fn bytes_read(self, now: Instant) -> Phase {
        match self {
            Phase::Idle { since, head_started: None } => Phase::Idle { since, head_started: Some(now) },
            other => other,
        }
    }

    fn request_began(self) -> Phase {
        match self {
            Phase::Idle { .. } => Phase::Busy { requests: 1 },
            Phase::Busy { requests } => Phase::Busy { requests: requests + 1 },
        }
    }

    fn request_ended(self, now: Instant) -> Phase {
        match self {
            Phase::Busy { requests } if requests > 1 => Phase::Busy { requests: requests - 1 },
            _ => Phase::Idle { since: now, head_started: None },
        }
    }

    fn deadline(self, timeouts: &ServerTimeouts) -> Option<Instant> {
        match self {
            Phase::Idle { head_started: Some(started), .. } => Some(started + timeouts.header_read),
            Phase::Idle { since, head_started: None } => Some(since + timeouts.idle),
            Phase::Busy { .. } => None,
        }
    }
}

impl Clock {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Clock {
            phase: Mutex::new(Phase::Idle { since: Instant::now(), head_started: None }),
            changed: Notify::new(),
        })
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        let next = change(*phase);
        if next != *phase {
            *phase = next;
            // One waiter (the driver); a stored permit covers a change made
            // while it was not waiting yet.
            self.changed.notify_one();
        }
    }

    /// Bytes arrived from the client.
    fn bytes_read(&self) {
        self.update(|phase| phase.bytes_read(Instant::now()));
    }

    /// hyper has parsed a request's headers and hands it to the router.
    pub(super) fn begin_request(self: &Arc<Self>) -> InFlight {
        self.update(Phase::request_began);
        InFlight(Arc::clone(self))
    }

    fn end_request(&self) {
        self.update(|phase| phase.request_ended(Instant::now()));
    }

    /// When the connection should be closed unless something happens first.
    pub(super) fn deadline(&self, timeouts: &ServerTimeouts) -> Option<Instant> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner).deadline(timeouts)
    }

    /// Resolves when the phase changed since the last call (or this one).
    pub(super) async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// A request being answered; dropped when hyper is done with its answer's body
/// (or the request was abandoned).
#[derive(Debug)]
pub(super) struct InFlight(Arc<Clock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end_request();
    }
}

/// An answer's body that keeps its request in flight until it is finished.
pub(super) struct Tracked {
    pub(super) body: Body,
    pub(super) _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    // Keeps Content-Length: hyper takes it from an exact size hint.
    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The client's socket, telling the clock when bytes arrive.
pub(super) struct Watched<T> {
    io: T,
    clock: Arc<Clock>,
}

impl<T> Watched<T> {
    pub(super) fn new(io: T, clock: Arc<Clock>) -> Self {
        Watched { io, clock }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.bytes_read();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn timeouts() -> ServerTimeouts {
        ServerTimeouts {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            idle: Duration::from_secs(60),
        }
    }

    fn at(opened: Instant, seconds: u64) -> Instant {
        opened + Duration::from_secs(seconds)
    }

    #[test]
    fn an_idle_connection_has_the_idle_deadline_until_a_request_starts() {
        // Given a new connection
        let opened = Instant::now();
        let phase = Phase::Idle { since: opened, head_started: None };
        assert_eq!(phase.deadline(&timeouts()), Some(at(opened, 60)));
        // When the first bytes of a request arrive later
        let phase = phase.bytes_read(at(opened, 5));
        // Then the headers must be complete within the header timeout from then
        assert_eq!(phase.deadline(&timeouts()), Some(at(opened, 15)));
        // And more bytes do not push the deadline back (slowloris dribbles bytes)
        let phase = phase.bytes_read(at(opened, 10));
        assert_eq!(phase.deadline(&timeouts()), Some(at(opened, 15)));
    }

    #[test]
    fn a_busy_connection_has_no_deadline_until_its_last_answer_ends() {
        // Given two requests in flight (pipelined)
        let opened = Instant::now();
        let phase = Phase::Idle { since: opened, head_started: None }.bytes_read(opened);
        let phase = phase.request_began().request_began();
        // Then, however long they take and whatever arrives, there is no deadline
        assert_eq!(phase.bytes_read(at(opened, 3600)).deadline(&timeouts()), None);
        let phase = phase.request_ended(at(opened, 3600));
        assert_eq!(phase.deadline(&timeouts()), None);
        // When the last answer is finished, the idle clock starts from then
        let phase = phase.request_ended(at(opened, 7200));
        assert_eq!(phase.deadline(&timeouts()), Some(at(opened, 7260)));
    }

    #[tokio::test]
    async fn a_change_wakes_the_driver_even_if_it_was_not_waiting_yet() {
        let clock = Clock::new();
        let request = clock.begin_request();
        assert_eq!(clock.deadline(&timeouts()), None);
        // The permit is kept: this resolves at once instead of hanging.
        tokio::time::timeout(Duration::from_secs(5), clock.changed()).await.unwrap();
        drop(request);
        assert!(clock.deadline(&timeouts()).is_some(), "idle again once the answer is done");
    }
}
