//! What an operator sees of a running gateway: Prometheus metrics (`metrics`),
//! logs as text or JSON (`logs`), and OpenTelemetry traces over OTLP (`traces`).

pub mod labels;
pub mod logs;
pub mod metrics;
pub mod traces;

pub use self::metrics::Metrics;
pub use logs::Telemetry;
pub use traces::request_span;

use gaiarouter_domain::request::{RequestCompleted, RequestStatus};
use uuid::Uuid;

use crate::usage::refusals::Refused;

/// A request's outcome is committed: counted, and logged in one line. The line
/// names the request and its caller, never what was said (no prompt, no
/// completion, no key).
pub fn request_recorded(metrics: &Metrics, request_id: Uuid, event: &RequestCompleted) {
    metrics.request_completed(event);
    tracing::info!(
        target: "gaiarouter::request",
        request_id = %request_id,
        organization_id = %event.organization_id,
        api_key_id = %event.api_key_id,
        model = %event.model,
        provider = %event.provider,
        ingress = %event.ingress,
        status = if event.status == RequestStatus::Success { "ok" } else { "error" },
        http_status = event.http_status,
        error_kind = event.error_kind.as_deref().unwrap_or(""),
        latency_ms = event.latency_ms,
        "request completed"
    );
}

/// A request refused before any provider. Logged at debug only: a tenant
/// hammering a key that is over its limit would otherwise flood the log (the
/// refusal is in the request log, folded).
pub fn request_refused(metrics: &Metrics, refused: &Refused<'_>) {
    metrics.request_refused(refused.model, refused.ingress, refused.http_status, refused.reason);
    tracing::debug!(
        target: "gaiarouter::request",
        organization_id = %refused.organization_id,
        api_key_id = %refused.api_key_id,
        ingress = refused.ingress,
        status = "refused",
        http_status = refused.http_status,
        reason = refused.reason,
        "request refused"
    );
}
