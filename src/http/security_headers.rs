//! Headers that keep browsers from misusing any answer: no MIME sniffing, no
//! framing (clickjacking), no referrer leaks, and a Content-Security-Policy that
//! lets the dashboard and `/docs` load only what this server itself serves, so a
//! script from elsewhere can never read the session token kept on this origin.

use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

/// Arco (dashboard) and Swagger UI (docs) set inline styles, and both use
/// `data:` images and fonts; no inline or evaluated script is allowed.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
    object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

const CROSS_ORIGIN_OPENER_POLICY: HeaderName = HeaderName::from_static("cross-origin-opener-policy");

pub(super) async fn add(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (X_FRAME_OPTIONS, "DENY"),
        (REFERRER_POLICY, "no-referrer"),
        (CROSS_ORIGIN_OPENER_POLICY, "same-origin"),
        (CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE),
    ] {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}
