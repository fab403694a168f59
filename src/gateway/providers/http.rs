//! Transport shared by the HTTP providers: timeouts, error bodies, and the SSE driver
//! that turns an upstream event stream into OpenAI chunks.

use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{sse, ChunkStream, ProviderError};
use crate::gateway::openai::ChatCompletionChunk;

/// How long GaiaRouter waits on an upstream. Never infinite: a silent upstream becomes
/// [`ProviderError::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP/TLS connect.
    pub connect: Duration,
    /// A whole non-streamed call, body included.
    pub total: Duration,
    /// A streamed call: until the response headers, then between two upstream events.
    pub idle: Duration,
    /// A streamed call as a whole, from when it is asked for to its last event: the
    /// bound on an upstream that sends an event now and then for ever (each within
    /// `idle`). Longer than `total` by default: a long answer is why clients stream.
    pub stream: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            total: Duration::from_secs(600),
            idle: Duration::from_secs(120),
            stream: Duration::from_secs(3_600),
        }
    }
}

/// How long a streamed call may still take: at most `idle` for each upstream event,
/// and the whole stream until `until`. Past either, the stream ends with
/// [`ProviderError::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDeadlines {
    pub idle: Duration,
    pub until: tokio::time::Instant,
}

/// Longest wait the arithmetic takes (a year): `Instant + Duration` panics past the
/// clock's range, and a timeout is configuration.
const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 3_600);

impl StreamDeadlines {
    /// For a stream asked for now under `timeouts`.
    pub fn from_now(timeouts: &Timeouts) -> Self {
        let until = tokio::time::Instant::now() + timeouts.stream.min(LONGEST_WAIT);
        StreamDeadlines { idle: timeouts.idle.min(LONGEST_WAIT), until }
    }

    /// When waiting for the next event, asked for now, gives up.
    fn next_event(&self) -> tokio::time::Instant {
        (tokio::time::Instant::now() + self.idle).min(self.until)
    }
}

/// A pooled client for all providers. Timeouts per call are applied by the providers,
/// so one client serves streamed and non-streamed calls alike.
///
/// Redirects are not followed: a provider's answer is its answer (a 3xx is an upstream
/// error like any other). Followed, a redirect re-sent the request to wherever the
/// `Location` pointed, with the gateway's `x-api-key` or `x-goog-api-key` (reqwest
/// drops only `Authorization` and cookies on the way to another host). Nor does the
/// client retry on its own: retries, fallbacks and their budget are the router's.
pub fn http_client(timeouts: &Timeouts) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .build()
}

pub(crate) fn transport_error(error: reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout
    } else {
        // Without the URL: it is ours, not the client's business.
        ProviderError::Connection(error.without_url().to_string())
    }
}

/// Sends a non-streamed call and parses its JSON body, all within `total`.
pub(crate) async fn send_for_json<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    total: Duration,
) -> Result<T, ProviderError> {
    let request = request.headers(crate::observability::traces::outgoing_headers());
    let call = async {
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let retry_after = retry_after_secs(response.headers());
        if !status.is_success() {
            let body = read_at_most(response, MAX_ERROR_BODY_BYTES).await?;
            return Err(upstream_error(status.as_u16(), &body).with_retry_after(retry_after));
        }
        if response.content_length().is_some_and(|length| length > MAX_ANSWER_BYTES as u64) {
            return Err(answer_too_large());
        }
        let body = read_at_most(response, MAX_ANSWER_BYTES + 1).await?;
        if body.len() > MAX_ANSWER_BYTES {
            return Err(answer_too_large());
        }
        serde_json::from_slice(&body).map_err(|e| ProviderError::InvalidResponse(e.to_string()))
    };
    tokio::time::timeout(total, call).await.map_err(|_| ProviderError::Timeout)?
}

/// Sends a streamed call and returns the response once its headers say success.
pub(crate) async fn open_stream(
    request: reqwest::RequestBuilder,
    deadlines: &StreamDeadlines,
) -> Result<reqwest::Response, ProviderError> {
    let request = request.headers(crate::observability::traces::outgoing_headers());
    // The answer's head is the stream's first wait: bounded by the idle timeout and by
    // the stream's deadline as a whole, whichever comes first.
    let response = tokio::time::timeout_at(deadlines.next_event(), request.send())
        .await
        .map_err(|_| ProviderError::Timeout)?
        .map_err(transport_error)?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after_secs(response.headers());
    let body = tokio::time::timeout_at(deadlines.next_event(), read_at_most(response, MAX_ERROR_BODY_BYTES))
        .await
        .map_err(|_| ProviderError::Timeout)??;
    Err(upstream_error(status.as_u16(), &body).with_retry_after(retry_after))
}

/// Largest non-streamed answer read from an upstream (a Gemini answer with a large
/// generated image is some megabytes). An upstream's body is its own to size: read
/// whole, a hostile or broken one could fill the gateway's memory for as long as
/// the call's timeout lets it send.
pub(crate) const MAX_ANSWER_BYTES: usize = 32 << 20;

/// Most of an upstream's error body read: its message is what the gateway keeps,
/// and the rest is left unread.
const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

fn answer_too_large() -> ProviderError {
    ProviderError::InvalidResponse(format!("the upstream's answer is larger than {} MiB", MAX_ANSWER_BYTES >> 20))
}

/// The body's first `limit` bytes at most; the rest is not read (the connection is
/// dropped with the response).
async fn read_at_most(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, ProviderError> {
    // Room for what the upstream says it sends, but not more than a megabyte on its word.
    let expected = response.content_length().map_or(0, |length| length.min(limit.min(1 << 20) as u64) as usize);
    let mut body = Vec::with_capacity(expected);
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == limit {
            break;
        }
    }
    Ok(body)
}

/// `Retry-After` in seconds (the delay form; an HTTP date is ignored), capped at
/// an hour so a hostile upstream cannot park a deployment for ever.
fn retry_after_secs(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(|secs| secs.min(3_600))
}

/// The error for a non-success answer. Google answers a wrong key with 400
/// INVALID_ARGUMENT and the reason `API_KEY_INVALID`, which means what the other
/// providers say with 401: GaiaRouter's key is wrong, not the client's request.
pub(crate) fn upstream_error(status: u16, body: &[u8]) -> ProviderError {
    let message = error_message(body);
    let status = if is_invalid_google_key(body) { 401 } else { status };
    if status == 401 || status == 403 {
        // For the operator only: clients get a fixed text (see `ProviderError`).
        // Debug-printed: the upstream's line breaks cannot start a log line of their own.
        tracing::warn!(status, upstream_message = ?message, "the upstream provider refused GaiaRouter's credentials");
    }
    ProviderError::from_status(status, message)
}

fn is_invalid_google_key(body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let error = match &value {
        Value::Array(items) => items.first().and_then(|item| item.get("error")),
        other => other.get("error"),
    };
    error.and_then(|e| e.get("details")).and_then(Value::as_array).is_some_and(|details| {
        details.iter().any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
    })
}

/// The human message of an upstream error body. All our upstreams use some form of
/// `{"error": {"message": ..}}`; Gemini may wrap it in an array, some OpenAI-compatible
/// servers use `{"error": "text"}`, `{"message": ..}` or `{"detail": ..}`.
pub(crate) fn error_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        if let Some(message) = json_error_message(&value) {
            return message;
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "the upstream sent no error details".into()
    } else {
        bounded_message(text)
    }
}

/// An upstream's words as the gateway passes them on: its first 500 characters.
fn bounded_message(text: &str) -> String {
    text.chars().take(500).collect()
}

pub(crate) fn json_error_message(value: &Value) -> Option<String> {
    let value = match value {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let text = |v: &Value| v.as_str().map(bounded_message);
    match value.get("error") {
        Some(Value::String(message)) => Some(bounded_message(message)),
        Some(error) => error.get("message").and_then(text),
        None => value.get("message").or_else(|| value.get("detail")).and_then(text),
    }
}

/// What one upstream event turned into.
#[derive(Debug, Default)]
pub(crate) struct Translated {
    pub chunks: Vec<ChatCompletionChunk>,
    /// The upstream sent its end marker (`[DONE]`, `message_stop`): stop reading.
    pub finished: bool,
}

impl Translated {
    pub fn chunks(chunks: Vec<ChatCompletionChunk>) -> Self {
        Translated { chunks, finished: false }
    }
}

/// A provider's streaming state machine, fed one SSE event at a time.
pub(crate) trait StreamTranslator: Send + 'static {
    fn on_event(&mut self, event: &str, data: &str) -> Result<Translated, ProviderError>;
    /// The upstream closed the connection before an end marker. Providers whose streams
    /// end by closing (Gemini) finish here; the others answer [`ProviderError::StreamCut`].
    fn on_close(&mut self) -> Result<Vec<ChatCompletionChunk>, ProviderError>;
}

pub(crate) fn translate_sse<T: StreamTranslator>(
    response: reqwest::Response,
    deadlines: StreamDeadlines,
    translator: T,
) -> ChunkStream {
    translate_sse_bytes(response.bytes_stream(), deadlines, translator)
}

/// Drives `translator` over an SSE byte stream, within `deadlines`.
pub(crate) fn translate_sse_bytes<S, B, E, T>(bytes: S, deadlines: StreamDeadlines, mut translator: T) -> ChunkStream
where
    S: futures::Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
    T: StreamTranslator,
{
    Box::pin(async_stream::stream! {
        let events = sse_events(bytes, deadlines);
        futures::pin_mut!(events);
        loop {
            match events.next().await {
                None => {
                    match translator.on_close() {
                        Ok(chunks) => {
                            for chunk in chunks {
                                yield Ok(chunk);
                            }
                        }
                        Err(error) => yield Err(error),
                    }
                    return;
                }
                Some(Err(error)) => {
                    yield Err(error);
                    return;
                }
                Some(Ok(event)) => match translator.on_event(&event.event, &event.data) {
                    Ok(translated) => {
                        for chunk in translated.chunks {
                            yield Ok(chunk);
                        }
                        if translated.finished {
                            return;
                        }
                    }
                    Err(error) => {
                        yield Err(error);
                        return;
                    }
                },
            }
        }
    })
}

/// The events of an SSE byte stream, waiting at most `idle` for each and for all of
/// them until the stream's deadline: a silent (or endless) upstream is a
/// [`ProviderError::Timeout`], a broken one a [`ProviderError::StreamCut`],
/// an event past [`sse::MAX_EVENT_BYTES`] an [`ProviderError::InvalidResponse`] (each
/// ends the stream); `None` is the upstream closing the connection.
pub(crate) fn sse_events<S, B, E>(
    bytes: S,
    deadlines: StreamDeadlines,
) -> impl futures::Stream<Item = Result<sse::Event, ProviderError>> + Send
where
    S: futures::Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    async_stream::stream! {
        futures::pin_mut!(bytes);
        let mut parser = sse::Parser::default();
        // The idle time runs from when the next event is asked for, not from the last
        // byte: an upstream trickling bytes that never make an event is as silent as
        // one sending none (and a client slow to ask costs the upstream nothing).
        let mut deadline = deadlines.next_event();
        loop {
            if let Some(event) = parser.next_event() {
                yield Ok(event);
                deadline = deadlines.next_event();
                continue;
            }
            match tokio::time::timeout_at(deadline, bytes.next()).await {
                Err(_) => {
                    yield Err(ProviderError::Timeout);
                    return;
                }
                Ok(None) => return,
                Ok(Some(Err(error))) => {
                    tracing::warn!(%error, "upstream stream broke off");
                    yield Err(ProviderError::StreamCut);
                    return;
                }
                Ok(Some(Ok(chunk))) => match parser.push(chunk.as_ref()) {
                    Ok(()) => {}
                    Err(sse::SseError::TooLarge) => {
                        yield Err(ProviderError::InvalidResponse(format!(
                            "an upstream stream event is larger than {} MiB",
                            sse::MAX_EVENT_BYTES >> 20
                        )));
                        return;
                    }
                    Err(sse::SseError::NotUtf8) => {
                        tracing::warn!("upstream stream sent a line that is not UTF-8");
                        yield Err(ProviderError::StreamCut);
                        return;
                    }
                },
            }
        }
    }
}

/// Seconds since the epoch, for `created`.
pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A fresh OpenAI-style completion id.
pub(crate) fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::openai::{ChunkChoice, Delta};
    use serde_json::json;

    /// Echoes each event's data as content; `end` finishes; closing early is a cut.
    struct Echoing;

    impl StreamTranslator for Echoing {
        fn on_event(&mut self, _event: &str, data: &str) -> Result<Translated, ProviderError> {
            if data == "end" {
                return Ok(Translated { chunks: Vec::new(), finished: true });
            }
            let chunk = ChatCompletionChunk::new("id", 0, "m", vec![ChunkChoice::delta(0, Delta::content(data))]);
            Ok(Translated::chunks(vec![chunk]))
        }

        fn on_close(&mut self) -> Result<Vec<ChatCompletionChunk>, ProviderError> {
            Err(ProviderError::StreamCut)
        }
    }

    /// Deadlines of `idle` per event and the default for the whole stream.
    fn idle(idle: Duration) -> StreamDeadlines {
        StreamDeadlines::from_now(&Timeouts { idle, ..Timeouts::default() })
    }

    #[test]
    fn given_timeouts_beyond_the_clocks_range_then_deadlines_are_a_year_away_not_a_panic() {
        let endless = Timeouts { idle: Duration::MAX, stream: Duration::MAX, ..Timeouts::default() };
        let deadlines = StreamDeadlines::from_now(&endless);
        assert_eq!(deadlines.idle, LONGEST_WAIT);
        assert!(deadlines.next_event() <= deadlines.until);
    }

    #[tokio::test]
    async fn an_upstream_sending_an_event_now_and_then_for_ever_yields_timeout_at_the_stream_deadline() {
        // An event every 20 ms, each well within the idle time, without end.
        let bytes = futures::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Some((Ok::<_, std::io::Error>("data: tick\n\n"), ()))
        });
        let timeouts =
            Timeouts { idle: Duration::from_secs(1), stream: Duration::from_millis(150), ..Timeouts::default() };
        let started = std::time::Instant::now();
        let items: Vec<_> = translate_sse_bytes(bytes, StreamDeadlines::from_now(&timeouts), Echoing).collect().await;
        assert!(items.len() > 2, "events passed until the deadline: {}", items.len());
        assert_eq!(items.last(), Some(&Err(ProviderError::Timeout)));
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    }

    fn texts(items: &[Result<ChatCompletionChunk, ProviderError>]) -> Vec<String> {
        items
            .iter()
            .filter_map(|item| item.as_ref().ok())
            .filter_map(|chunk| chunk.choices[0].delta.content.clone())
            .collect()
    }

    #[tokio::test]
    async fn stops_at_the_end_marker_even_if_bytes_follow() {
        let bytes =
            futures::stream::iter(vec![Ok::<_, std::io::Error>("data: a\n\ndata: b\n\ndata: end\n\ndata: c\n\n")]);
        let items: Vec<_> = translate_sse_bytes(bytes, idle(Duration::from_secs(1)), Echoing).collect().await;
        assert_eq!(texts(&items), vec!["a", "b"]);
        assert_eq!(items.len(), 2);
    }

    #[tokio::test]
    async fn a_stream_closed_before_its_end_marker_yields_stream_cut() {
        let bytes = futures::stream::iter(vec![Ok::<_, std::io::Error>("data: a\n\n")]);
        let items: Vec<_> = translate_sse_bytes(bytes, idle(Duration::from_secs(1)), Echoing).collect().await;
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], Err(ProviderError::StreamCut));
    }

    #[tokio::test]
    async fn a_transport_error_mid_stream_yields_stream_cut() {
        let bytes = futures::stream::iter(vec![Ok("data: a\n\n"), Err(std::io::Error::other("reset"))]);
        let items: Vec<_> = translate_sse_bytes(bytes, idle(Duration::from_secs(1)), Echoing).collect().await;
        assert_eq!(items.last(), Some(&Err(ProviderError::StreamCut)));
    }

    #[tokio::test]
    async fn a_silent_upstream_yields_timeout_after_the_idle_time() {
        let bytes =
            futures::stream::iter(vec![Ok::<_, std::io::Error>("data: a\n\n")]).chain(futures::stream::pending());
        let started = std::time::Instant::now();
        let items: Vec<_> = translate_sse_bytes(bytes, idle(Duration::from_millis(50)), Echoing).collect().await;
        assert_eq!(items.last(), Some(&Err(ProviderError::Timeout)));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_client_slow_to_ask_for_the_next_event_is_not_an_upstream_timeout() {
        // The upstream sends `a` at once and `b` 150 ms later; the client asks for the
        // next event 100 ms after `a`: the upstream was silent 50 ms of the 80 allowed.
        let start = tokio::time::Instant::now();
        let bytes = futures::stream::iter(vec![Ok::<_, std::io::Error>("data: a\n\n")]).chain(futures::stream::once(
            async move {
                tokio::time::sleep_until(start + Duration::from_millis(150)).await;
                Ok("data: b\n\ndata: end\n\n")
            },
        ));
        let mut chunks = translate_sse_bytes(bytes, idle(Duration::from_millis(80)), Echoing);
        let first = chunks.next().await;
        tokio::time::sleep_until(start + Duration::from_millis(100)).await;
        let rest: Vec<_> = chunks.collect().await;
        assert_eq!(texts(&[first.unwrap()]), vec!["a"]);
        assert_eq!(texts(&rest), vec!["b"], "{rest:?}");
    }

    #[test]
    fn a_google_invalid_key_400_is_a_credential_failure_and_other_400s_are_not() {
        let invalid_key = json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}});
        let error = upstream_error(400, invalid_key.to_string().as_bytes());
        assert_eq!((error.http_status(), error.kind()), (502, "upstream_auth_failed"));
        let bad_request =
            json!({"error": {"code": 400, "message": "contents is not specified", "status": "INVALID_ARGUMENT"}});
        let error = upstream_error(400, bad_request.to_string().as_bytes());
        assert_eq!((error.http_status(), error.kind()), (400, "upstream_client_error"));
    }

    #[test]
    fn reads_the_message_out_of_every_known_error_body_shape() {
        let cases = [
            (json!({"error": {"message": "bad model", "type": "invalid_request_error"}}), "bad model"),
            (json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}), "Overloaded"),
            (json!([{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}]), "quota"),
            (json!({"error": "plain"}), "plain"),
            (json!({"detail": "Not Found"}), "Not Found"),
        ];
        for (body, expected) in cases {
            assert_eq!(error_message(body.to_string().as_bytes()), expected);
        }
        assert_eq!(error_message(b"<html>502</html>"), "<html>502</html>");
        assert_eq!(error_message(b""), "the upstream sent no error details");
        let long = json!({"error": {"message": "é".repeat(10_000)}}).to_string();
        assert_eq!(error_message(long.as_bytes()).chars().count(), 500, "an upstream's words are bounded");
        assert_eq!(error_message(json!({"error": "x".repeat(900)}).to_string().as_bytes()).len(), 500);
    }
}
