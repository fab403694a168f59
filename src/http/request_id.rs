//! Request ids are the server's own (UUIDv7, set by the layer in `http::router`):
//! a client's `x-request-id` could otherwise forge or collide with the ids in the
//! audit trail. The client's value, when it is short printable ASCII, is kept
//! apart as `client_request_id` so callers can still correlate their logs.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::context::REQUEST_ID_HEADER;

/// Longer client ids are dropped, not cut: a cut id would correlate wrongly.
pub const MAX_CLIENT_REQUEST_ID_LEN: usize = 128;

/// The client's own `x-request-id`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequestId(pub String);

/// Runs before the layer that sets the server's id, so that layer never sees
/// (and keeps) the client's.
pub(super) async fn take_client_request_id(mut request: Request, next: Next) -> Response {
    if let Some(value) = request.headers_mut().remove(REQUEST_ID_HEADER) {
        if let Some(id) = acceptable(&value) {
            request.extensions_mut().insert(ClientRequestId(id));
        }
    }
    next.run(request).await
}

fn acceptable(value: &HeaderValue) -> Option<String> {
    let bytes = value.as_bytes();
    let printable = bytes.iter().all(|byte| (b' '..=b'~').contains(byte));
    let fits = !bytes.is_empty() && bytes.len() <= MAX_CLIENT_REQUEST_ID_LEN;
    (printable && fits).then(|| value.to_str().ok().map(str::to_string)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_printable_ascii_ids_are_kept() {
        let keep = |raw: &[u8]| acceptable(&HeaderValue::from_bytes(raw).unwrap());
        assert_eq!(keep(b"trace-42 abc"), Some("trace-42 abc".to_string()));
        assert_eq!(keep(&[b'a'; MAX_CLIENT_REQUEST_ID_LEN]).map(|id| id.len()), Some(MAX_CLIENT_REQUEST_ID_LEN));
        assert_eq!(keep(&[b'a'; MAX_CLIENT_REQUEST_ID_LEN + 1]), None);
        assert_eq!(keep(b"tab\there"), None);
        assert_eq!(keep("r\u{e9}sum\u{e9}".as_bytes()), None);
        assert_eq!(keep(b""), None);
    }
}
