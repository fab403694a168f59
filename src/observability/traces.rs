//! OpenTelemetry traces over OTLP/HTTP (protobuf), off unless an endpoint is
//! configured. A request is one trace: the `request` span (the child of the
//! client's span when it sent a W3C `traceparent`), and under it `admission`,
//! one `upstream` span per attempt (whose context the provider request carries
//! as its `traceparent`) and `commit`. Without an endpoint no propagator is
//! installed, so extracting and injecting are no-ops.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Request};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{Layer, Registry};

use crate::http::REQUEST_ID_HEADER;

/// The tracer provider exporting to `<endpoint>/v1/traces` (batched, from a
/// thread of its own). Installs the W3C trace-context propagator.
pub fn tracer_provider(endpoint: &str) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .with_headers(std::collections::HashMap::new())
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name("gaiarouter").build())
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(provider)
}

/// The layer that turns tracing spans into OpenTelemetry spans.
pub fn layer(provider: &SdkTracerProvider) -> Box<dyn Layer<Registry> + Send + Sync> {
    Box::new(tracing_opentelemetry::layer().with_tracer(provider.tracer("gaiarouter")))
}

/// The span of one HTTP request, the child of the client's `traceparent` when
/// it sent one (and traces are on).
pub fn request_span<B>(request: &Request<B>) -> tracing::Span {
    let id = request.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %id,
        otel.kind = "server",
    );
    let parent =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&Headers(request.headers())));
    // Fails only when no OpenTelemetry layer is installed: nothing to link then.
    let _ = span.set_parent(parent);
    span
}

/// The current span's context as W3C headers (`traceparent`), for a request
/// GaiaRouter sends upstream. Empty when traces are off.
pub fn outgoing_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeadersMut(&mut headers));
    });
    headers
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}
