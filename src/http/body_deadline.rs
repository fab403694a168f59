//! A request body must arrive in full within the body-read timeout of its
//! headers. A body that stops arriving (or dribbles, slowloris-style) is answered
//! 408 in the route's JSON error shape (Anthropic's on the Messages API) and the
//! connection is closed, since its unread rest cannot be told apart from a next
//! request.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Body as _, Frame, SizeHint};
use tokio::time::Sleep;

use crate::error::ApiError;

pub(super) async fn limit_body_time(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let anthropic = super::messages::answers_in_anthropics_shape(request.uri().path());
    let expired = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&expired);
    let request =
        request.map(|body| Body::new(Deadline { body, sleep: Box::pin(tokio::time::sleep(limit)), expired: flag }));
    let response = next.run(request).await;
    // Whatever the handler made of the failed read (a 400 from the extractor,
    // usually), the client's fault is being too slow.
    if expired.load(Ordering::Acquire) {
        let error =
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "the request body did not arrive in time");
        let mut timed_out = if anthropic {
            super::messages::AnthropicError::from(error).into_response()
        } else {
            error.into_response()
        };
        timed_out.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        return timed_out;
    }
    response
}

struct Deadline {
    body: Body,
    sleep: Pin<Box<Sleep>>,
    expired: Arc<AtomicBool>,
}

#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        // What already arrived is taken even if it is read late.
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
