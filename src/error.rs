//! One error type for every HTTP route, answered in OpenAI's error shape:
//! `{"error":{"message","type","param","code"}}`. Internal details are logged,
//! never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// A stable machine-readable code (`organization_not_found`, `invalid_json`).
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    /// Headers answered with the error: `retry-after`, `x-should-retry`, and the
    /// `x-ratelimit-*` of a per-minute limit.
    pub headers: Vec<(axum::http::HeaderName, axum::http::HeaderValue)>,
}

/// Every error answer of the admin API and `/v1/chat/completions` (OpenAI's
/// shape); the OpenAPI document names it as the body of each 4xx and 5xx.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail<'a> {
    message: &'a str,
    /// Derived from the status: `invalid_request_error`, `authentication_error`,
    /// `permission_error`, `not_found_error`, `conflict_error`, `rate_limit_error`, `server_error`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The request field at fault, when there is one.
    param: Option<&'a str>,
    /// A stable machine-readable code (`organization_not_found`, `invalid_json`).
    code: &'static str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), param: None, headers: Vec::new() }
    }

    /// Retrying cannot succeed for `seconds` (a budget until its period ends):
    /// `retry-after` with `x-should-retry: false`, which the OpenAI and Anthropic
    /// SDKs honour instead of retrying at once. `None`: never (a total budget).
    pub fn not_before(mut self, seconds: Option<u64>) -> Self {
        if let Some(seconds) = seconds {
            self.headers.push((axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds)));
        }
        self.headers.push((
            axum::http::HeaderName::from_static("x-should-retry"),
            axum::http::HeaderValue::from_static("false"),
        ));
        self
    }

    /// Retrying can succeed after `seconds` (a rate limit's window ends); the
    /// SDKs retry by themselves, after this long.
    pub fn retry_in(mut self, seconds: u64) -> Self {
        self.headers.push((axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds)));
        self
    }

    pub fn with_headers(
        mut self,
        headers: impl IntoIterator<Item = (axum::http::HeaderName, axum::http::HeaderValue)>,
    ) -> Self {
        self.headers.extend(headers);
        self
    }

    /// The headers answered with the error (see [`not_before`](Self::not_before)).
    pub fn retry_headers(&self) -> Vec<(axum::http::HeaderName, axum::http::HeaderValue)> {
        self.headers.clone()
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_api_key", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "permission_denied", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// Logs the cause and answers a generic 500 that leaks nothing.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal server error")
    }

    /// The database is unreachable or overloaded: the client may retry.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "service unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "service temporarily unavailable, retry")
    }

    /// OpenAI's `type` field, derived from the status so it can never disagree.
    pub fn error_type(&self) -> &'static str {
        match self.status.as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            409 => "conflict_error",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "server_error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                message: &self.message,
                kind: self.error_type(),
                param: self.param.as_deref(),
                code: self.code,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => ApiError::unavailable(error),
            other => ApiError::internal(other),
        }
    }
}

impl From<gaiarouter_projections::event_log::EventLogError> for ApiError {
    fn from(error: gaiarouter_projections::event_log::EventLogError) -> Self {
        match error {
            gaiarouter_projections::event_log::EventLogError::Database(db) => db.into(),
            other => ApiError::internal(other),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// The error body as JSON text, for SSE `data:` lines.
    pub fn body_json(&self) -> String {
        let body = ErrorBody {
            error: ErrorDetail {
                message: &self.message,
                kind: self.error_type(),
                param: self.param.as_deref(),
                code: self.code,
            },
        };
        serde_json::to_string(&body).unwrap_or_default()
    }
}
