//! The process's tracing subscriber: text or JSON lines on stderr, and the
//! OpenTelemetry layer when an OTLP endpoint is configured. Installed once, by
//! `main`; in-process tests install none (they start the binary to see logs).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use super::traces;
use crate::config::{Config, LogFormat};

/// What must be flushed before the process exits (spans not yet exported).
pub struct Telemetry {
    tracer: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered; call once, before exit.
    pub fn shutdown(self) {
        if let Some(tracer) = self.tracer {
            if let Err(error) = tracer.shutdown() {
                tracing::warn!(%error, "exporting the last spans failed");
            }
        }
    }
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// Installs the subscriber for `config` (defaults when the configuration could
/// not be read, so that error is still logged).
pub fn init(config: Option<&Config>) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let format = config.map_or(LogFormat::Text, |c| c.log_format);
    let output: BoxedLayer = match format {
        LogFormat::Text => Box::new(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)),
        LogFormat::Json => Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_writer(std::io::stderr),
        ),
    };
    let endpoint = config.and_then(|c| c.otlp_endpoint.as_deref());
    let (tracer, otel_error) = match endpoint.map(traces::tracer_provider) {
        Some(Ok(provider)) => (Some(provider), None),
        Some(Err(error)) => (None, Some(error)),
        None => (None, None),
    };
    let mut layers = vec![output];
    layers.extend(tracer.as_ref().map(traces::layer));
    Registry::default().with(layers).with(filter).init();
    if let Some(error) = otel_error {
        tracing::warn!(%error, "OTLP traces are off: the exporter could not be built");
    } else if let Some(endpoint) = endpoint {
        tracing::info!(endpoint, "exporting traces over OTLP/HTTP");
    }
    Telemetry { tracer }
}
