//! What can stop a completion, in the engine's own terms. Each ingress renders
//! these in its wire format (OpenAI's error object today) at the HTTP edge.

use crate::gateway::ProviderError;
use crate::usage::quota::AdmissionError;
use crate::usage::recorder::RecordError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request is malformed; `param` names the field.
    #[error("{message}")]
    InvalidRequest { param: String, message: String },
    /// No route, catalog model or configured provider answers to this model id.
    #[error("{0}")]
    UnknownModel(String),
    #[error(transparent)]
    Admission(#[from] AdmissionError),
    /// Every deployment of the route and of its fallbacks is cooling down.
    #[error("no deployment of `{0}` is available right now; retry shortly")]
    NoDeployment(String),
    /// The last upstream attempt's failure (after retries and fallbacks).
    #[error(transparent)]
    Upstream(ProviderError),
    /// The outcome could not be recorded, so the answer is withheld.
    #[error("the request could not be recorded: {0}")]
    NotRecorded(RecordError),
}

impl EngineError {
    /// The HTTP status the request is recorded with (and usually answered with).
    pub fn http_status(&self) -> u16 {
        match self {
            EngineError::InvalidRequest { .. } => 400,
            EngineError::UnknownModel(_) => 404,
            EngineError::Admission(AdmissionError::LimitReached(_)) => 429,
            EngineError::Admission(AdmissionError::Database(_))
            | EngineError::NoDeployment(_)
            | EngineError::NotRecorded(_) => 503,
            EngineError::Upstream(error) => error.http_status(),
        }
    }

    /// The short code recorded in events.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::InvalidRequest { .. } => "invalid_request",
            EngineError::UnknownModel(_) => "model_not_found",
            EngineError::Admission(AdmissionError::LimitReached(_)) => "limit_reached",
            EngineError::Admission(AdmissionError::Database(_)) => "admission_unavailable",
            EngineError::NoDeployment(_) => "no_available_deployment",
            EngineError::Upstream(error) => error.kind(),
            EngineError::NotRecorded(_) => "not_recorded",
        }
    }

    /// The reason a request was refused before any provider saw it, as recorded
    /// in `RequestRefused` (the code answered); `None` when a provider was tried
    /// (the request is recorded as completed) or nothing could be recorded.
    pub fn refusal_reason(&self) -> Option<&'static str> {
        match self {
            EngineError::Admission(AdmissionError::LimitReached(refusal)) => Some(refusal.code()),
            EngineError::InvalidRequest { .. } | EngineError::UnknownModel(_) | EngineError::NoDeployment(_) => {
                Some(self.kind())
            }
            EngineError::Admission(AdmissionError::Database(_))
            | EngineError::Upstream(_)
            | EngineError::NotRecorded(_) => None,
        }
    }
}
