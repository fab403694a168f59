//! Domain errors as HTTP answers: each maps to one status and one stable code.

use axum::http::StatusCode;
use gaiarouter_domain::api_key::ApiKeyError;
use gaiarouter_domain::authorization::AuthorizationError;
use gaiarouter_domain::operator::OperatorError;
use gaiarouter_domain::organization::OrganizationError;
use gaiarouter_domain::route::RouteError;

use crate::error::ApiError;

impl From<OrganizationError> for ApiError {
    fn from(error: OrganizationError) -> Self {
        let message = error.to_string();
        match error {
            OrganizationError::AlreadyExists => ApiError::conflict("organization_exists", message),
            OrganizationError::NotFound => ApiError::not_found("organization_not_found", message),
            OrganizationError::Deleted => ApiError::not_found("organization_not_found", message),
            OrganizationError::AlreadySuspended | OrganizationError::NotSuspended => {
                ApiError::conflict("invalid_status_change", message)
            }
            OrganizationError::InvalidName(_) => ApiError::bad_request("invalid_name", message).with_param("name"),
            OrganizationError::InvalidLimits(_) => {
                ApiError::bad_request("invalid_limits", message).with_param("limits")
            }
        }
    }
}

impl From<ApiKeyError> for ApiError {
    fn from(error: ApiKeyError) -> Self {
        let message = error.to_string();
        match error {
            ApiKeyError::AlreadyIssued => ApiError::conflict("api_key_exists", message),
            ApiKeyError::NotFound => ApiError::not_found("api_key_not_found", message),
            ApiKeyError::Revoked => ApiError::new(StatusCode::CONFLICT, "api_key_revoked", message),
            ApiKeyError::ExpiryInPast => ApiError::bad_request("invalid_expiry", message).with_param("expires_at"),
            ApiKeyError::InvalidName(_) => ApiError::bad_request("invalid_name", message).with_param("name"),
            ApiKeyError::InvalidLimits(_) => ApiError::bad_request("invalid_limits", message).with_param("limits"),
            ApiKeyError::InvalidSecretHash | ApiKeyError::InvalidPublicId | ApiKeyError::SameSecret => {
                ApiError::internal(message)
            }
        }
    }
}

impl From<OperatorError> for ApiError {
    fn from(error: OperatorError) -> Self {
        let message = error.to_string();
        match error {
            OperatorError::AlreadyExists => ApiError::conflict("operator_exists", message),
            OperatorError::NotFound => ApiError::not_found("operator_not_found", message),
            OperatorError::Disabled => ApiError::conflict("operator_disabled", message),
            OperatorError::NotDisabled => ApiError::conflict("operator_not_disabled", message),
            OperatorError::InvalidUsername(_) => ApiError::bad_request("invalid_name", message).with_param("username"),
            OperatorError::InvalidPasswordHash => ApiError::internal(message),
        }
    }
}

impl From<AuthorizationError> for ApiError {
    fn from(error: AuthorizationError) -> Self {
        let refused = ApiError::forbidden(error.to_string());
        match error.param() {
            Some(param) => refused.with_param(param),
            None => refused,
        }
    }
}

impl From<RouteError> for ApiError {
    fn from(error: RouteError) -> Self {
        let message = error.to_string();
        match error {
            RouteError::AlreadyExists => ApiError::conflict("route_exists", message),
            RouteError::NotFound | RouteError::Deleted => ApiError::not_found("route_not_found", message),
            RouteError::InvalidSpec(spec) => ApiError::bad_request("invalid_route", message).with_param(spec.param()),
        }
    }
}

impl From<crate::routing::input::InputError> for ApiError {
    fn from(error: crate::routing::input::InputError) -> Self {
        ApiError::bad_request("invalid_route", error.message).with_param(error.param)
    }
}
