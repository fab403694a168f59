//! The one place where admin and auth errors become HTTP answers: each maps to
//! one status and one stable `code` (and the request field at fault as `param`).
//! Clients depend on these codes; change them only with the API's version.

use axum::http::StatusCode;
use gaiarouter_domain::api_key::ApiKeyError;
use gaiarouter_domain::authorization::AuthorizationError;
use gaiarouter_domain::operator::OperatorError;
use gaiarouter_domain::organization::OrganizationError;
use gaiarouter_domain::route::RouteError;
use gaiarouter_domain::webhook::WebhookError;

use crate::admin::AdminError;
use crate::auth::password::PasswordError;
use crate::auth::AuthError;
use crate::error::ApiError;
use crate::routing::input::InputError;

impl From<AdminError> for ApiError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Organization(error) => error.into(),
            AdminError::ApiKey(error) => error.into(),
            AdminError::Operator(error) => error.into(),
            AdminError::Route(error) => error.into(),
            AdminError::Webhook(error) => error.into(),
            AdminError::Password(error) => error.into(),
            AdminError::Invalid { code, param, message } => ApiError::bad_request(code, message).with_param(param),
            AdminError::NotFound { code, message } => ApiError::not_found(code, message),
            AdminError::Conflict { code, param, message } => with_param(ApiError::conflict(code, message), param),
            AdminError::Forbidden { param, message } => with_param(ApiError::forbidden(message), param),
            AdminError::ConcurrentModification(message) => ApiError::conflict("concurrent_modification", message),
            AdminError::StoreUnavailable(cause) => ApiError::unavailable(cause),
            AdminError::Store(cause) => ApiError::internal(cause),
            AdminError::Database(error) => error.into(),
            AdminError::EventLog(error) => error.into(),
        }
    }
}

fn with_param(error: ApiError, param: Option<String>) -> ApiError {
    match param {
        Some(param) => error.with_param(param),
        None => error,
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidApiKey
            | AuthError::InvalidToken
            | AuthError::KeyRevoked
            | AuthError::KeyExpired
            | AuthError::OrganizationGone => ApiError::unauthorized(error.to_string()),
            AuthError::OrganizationSuspended | AuthError::PermissionNeeded(_) => ApiError::forbidden(error.to_string()),
            AuthError::Database(error) => error.into(),
            AuthError::UnknownPermission(_) | AuthError::CachePoisoned | AuthError::Serialization(_) => {
                ApiError::internal(error)
            }
        }
    }
}

impl From<PasswordError> for ApiError {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::TooShort | PasswordError::TooLong => {
                ApiError::bad_request("weak_password", error.to_string()).with_param("password")
            }
            PasswordError::Busy => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_password_checks", error.to_string())
            }
            PasswordError::Hashing(cause) => ApiError::internal(cause),
        }
    }
}

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

impl From<WebhookError> for ApiError {
    fn from(error: WebhookError) -> Self {
        let message = error.to_string();
        match error {
            WebhookError::AlreadyExists => ApiError::conflict("webhook_exists", message),
            WebhookError::NotFound => ApiError::not_found("webhook_not_found", message),
            WebhookError::SameSecret => ApiError::internal(message),
            WebhookError::InvalidSpec(spec) => {
                let code = match spec {
                    gaiarouter_domain::webhook::EndpointSpecError::UnknownEventType(_)
                    | gaiarouter_domain::webhook::EndpointSpecError::GatewayEventType(_)
                    | gaiarouter_domain::webhook::EndpointSpecError::NoEventTypes => "invalid_event_type",
                    _ => "invalid_webhook",
                };
                ApiError::bad_request(code, message).with_param(spec.param())
            }
        }
    }
}

impl From<InputError> for ApiError {
    fn from(error: InputError) -> Self {
        ApiError::from(AdminError::from(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_refusals_keep_their_status_code_and_param() {
        let cases: Vec<(AdminError, u16, &str, Option<&str>)> = vec![
            (AdminError::invalid("fallback_cycle", "fallbacks", "cycle"), 400, "fallback_cycle", Some("fallbacks")),
            (AdminError::not_found("route_not_found", "route not found"), 404, "route_not_found", None),
            (
                AdminError::Conflict { code: "name_taken", param: Some("name".into()), message: "taken".into() },
                409,
                "name_taken",
                Some("name"),
            ),
            (
                AdminError::Forbidden { param: Some("current_password".into()), message: "wrong".into() },
                403,
                "permission_denied",
                Some("current_password"),
            ),
            (AdminError::ConcurrentModification("retry"), 409, "concurrent_modification", None),
            (AdminError::StoreUnavailable("down".into()), 503, "service_unavailable", None),
            (AdminError::Store("broken".into()), 500, "internal_error", None),
            (OrganizationError::NotSuspended.into(), 409, "invalid_status_change", None),
            (PasswordError::Busy.into(), 429, "too_many_password_checks", None),
            (PasswordError::TooShort.into(), 400, "weak_password", Some("password")),
            (
                InputError { param: "deployments[0].weight".into(), message: "too low".into() }.into(),
                400,
                "invalid_route",
                Some("deployments[0].weight"),
            ),
        ];
        for (error, status, code, param) in cases {
            let answer = ApiError::from(error);
            assert_eq!((answer.status.as_u16(), answer.code, answer.param.as_deref()), (status, code, param));
        }
    }

    #[test]
    fn auth_refusals_are_401_or_403_and_internal_causes_are_not_shown() {
        let revoked = ApiError::from(AuthError::KeyRevoked);
        assert_eq!((revoked.status.as_u16(), revoked.code), (401, "invalid_api_key"));
        assert_eq!(revoked.message, "this API key has been revoked");
        let suspended = ApiError::from(AuthError::OrganizationSuspended);
        assert_eq!((suspended.status.as_u16(), suspended.code), (403, "permission_denied"));
        let needed = ApiError::from(AuthError::PermissionNeeded(gaiarouter_domain::Permission::Admin));
        assert_eq!(needed.message, "this action needs the `admin` permission");
        let unknown = ApiError::from(AuthError::UnknownPermission("root".into()));
        assert_eq!((unknown.status.as_u16(), unknown.message.as_str()), (500, "internal server error"));
    }
}
