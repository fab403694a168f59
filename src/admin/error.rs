//! What an admin use case can answer instead of doing what was asked. No HTTP
//! here: the HTTP edge (`http::admin_errors`) gives each variant its
//! status and stable code; the CLI and the start-up wiring print the message.

use gaiarouter_domain::api_key::ApiKeyError;
use gaiarouter_domain::operator::OperatorError;
use gaiarouter_domain::organization::OrganizationError;
use gaiarouter_domain::route::{RouteError, RouteSpecError};
use gaiarouter_domain::webhook::WebhookError;
use gaiarouter_projections::event_log::EventLogError;

use crate::auth::password::PasswordError;
use crate::routing::input::InputError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A rule of the organization aggregate refused the command.
    #[error(transparent)]
    Organization(#[from] OrganizationError),
    #[error(transparent)]
    ApiKey(#[from] ApiKeyError),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error(transparent)]
    Route(#[from] RouteError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// A password too short or too long, a full hashing queue, or a hashing failure.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// A field of the request is unacceptable; `code` names the rule, `param` the field.
    #[error("{message}")]
    Invalid { code: &'static str, param: String, message: String },
    /// The thing does not exist (or no longer does); `code` names what.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// The change contradicts the current state (a name in use, a route others fall back to,
    /// the last operator, ...).
    #[error("{message}")]
    Conflict { code: &'static str, param: Option<String>, message: String },
    /// The caller may not do this (e.g. a wrong current password).
    #[error("{message}")]
    Forbidden { param: Option<String>, message: String },
    /// Other writers kept changing the aggregate; the client may retry.
    #[error("{0}")]
    ConcurrentModification(&'static str),
    /// The event store could not be reached.
    #[error("event store unavailable: {0}")]
    StoreUnavailable(String),
    /// Stored events could not be read back, or the store failed otherwise.
    #[error("event store error: {0}")]
    Store(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    EventLog(#[from] EventLogError),
}

impl AdminError {
    pub(crate) fn invalid(code: &'static str, param: impl Into<String>, message: impl Into<String>) -> Self {
        AdminError::Invalid { code, param: param.into(), message: message.into() }
    }

    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        AdminError::NotFound { code, message: message.into() }
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AdminError::Conflict { code, param: None, message: message.into() }
    }
}

impl From<RouteSpecError> for AdminError {
    fn from(error: RouteSpecError) -> Self {
        AdminError::Route(RouteError::from(error))
    }
}

/// A route definition as written (API body, routes file) that cannot be a spec.
impl From<InputError> for AdminError {
    fn from(error: InputError) -> Self {
        AdminError::Invalid { code: "invalid_route", param: error.param, message: error.message }
    }
}
