//! Copies what the gateway answered, bounded, into the body log — for the
//! organizations that log bodies. The response is passed on unchanged: a whole
//! answer is already in memory (its copy is taken at once), a stream is copied
//! frame by frame as it goes to the client, and handed to the body log when it
//! ends or the client goes away.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use futures::StreamExt;
use uuid::Uuid;

use crate::auth::key_cache::GatewayCaller;
use crate::bodies::{BodyLog, BodyRecord, Bounded, CapturedBody};
use crate::state::AppState;

/// Answers `response`, copying it and `request` (the body as received; never a
/// header, so no key) for the body log when the caller's organization asks for it.
pub async fn capture(
    state: &AppState,
    caller: &GatewayCaller,
    request_id: Uuid,
    request: &[u8],
    response: Response,
) -> Response {
    if !caller.log_bodies {
        return response;
    }
    let log = Arc::clone(&state.bodies);
    let pending = Pending {
        request_id,
        organization_id: caller.key.organization_id,
        request: CapturedBody::of(request, log.max_bytes()),
        response: Bounded::new(log.max_bytes()),
    };
    let (parts, body) = response.into_parts();
    let is_stream = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"));
    if is_stream {
        let mut tap = Tap { log, pending: Some(pending) };
        let copied = body.into_data_stream().map(move |frame| {
            if let Ok(bytes) = &frame {
                tap.push(bytes);
            }
            frame
        });
        return Response::from_parts(parts, Body::from_stream(copied));
    }
    // A whole answer is one buffer already: reading it costs no wait.
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => {
            let mut tap = Tap { log, pending: Some(pending) };
            tap.push(&bytes);
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(error) => {
            tracing::warn!(%error, %request_id, "an answer could not be copied for the body log");
            Response::from_parts(parts, Body::from(Bytes::new()))
        }
    }
}

struct Pending {
    request_id: Uuid,
    organization_id: Uuid,
    request: CapturedBody,
    response: Bounded,
}

/// Collects a response; hands the pair to the body log when dropped (the body
/// sent, or the client gone).
struct Tap {
    log: Arc<BodyLog>,
    pending: Option<Pending>,
}

impl Tap {
    fn push(&mut self, bytes: &[u8]) {
        if let Some(pending) = &mut self.pending {
            pending.response.push(bytes);
        }
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.log.submit(BodyRecord {
                request_id: pending.request_id,
                organization_id: pending.organization_id,
                request: pending.request,
                response: pending.response.finish(),
            });
        }
    }
}
