//! What an endpoint is: where it is, what it receives, whether it is on. The rules
//! here hold for every way an endpoint is written (API, replays).

use serde::{Deserialize, Serialize};

/// Longest URL accepted (what browsers and most servers handle).
pub const MAX_URL_LEN: usize = 2048;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// The event types an endpoint may subscribe to, as stored in `events.event_type`.
pub const EVENT_TYPES: [&str; 10] = [
    "BudgetThresholdReached",
    "ApiKeyIssued",
    "ApiKeySecretRotated",
    "ApiKeyRevoked",
    "OrganizationSuspended",
    "OrganizationReactivated",
    "RouteCreated",
    "RouteUpdated",
    "RouteDeleted",
    "DeploymentCooledDown",
];

/// Gateway-wide events that concern no organization: only gateway-wide endpoints
/// (organization `None`) receive them, so an organization's endpoint may not ask.
pub const GATEWAY_EVENT_TYPES: [&str; 4] = ["RouteCreated", "RouteUpdated", "RouteDeleted", "DeploymentCooledDown"];

pub fn is_event_type(name: &str) -> bool {
    EVENT_TYPES.contains(&name)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    pub url: String,
    pub description: Option<String>,
    /// Sorted, without duplicates (see [`EndpointSpec::normalized`]).
    pub event_types: Vec<String>,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointSpecError {
    #[error("url must be at most 2048 characters")]
    UrlTooLong,
    #[error("url is not a valid absolute URL")]
    UrlInvalid,
    #[error("url must use http or https")]
    UrlScheme,
    #[error("url must not contain credentials (user:password@)")]
    UrlCredentials,
    #[error("description must be at most 500 characters without control characters")]
    InvalidDescription,
    #[error("event_types must name at least one event type")]
    NoEventTypes,
    #[error("unknown event type `{0}`")]
    UnknownEventType(String),
    #[error("`{0}` concerns no organization: only gateway-wide endpoints receive it")]
    GatewayEventType(String),
}

impl EndpointSpecError {
    /// The request field at fault.
    pub fn param(&self) -> &'static str {
        match self {
            Self::UrlTooLong | Self::UrlInvalid | Self::UrlScheme | Self::UrlCredentials => "url",
            Self::InvalidDescription => "description",
            Self::NoEventTypes | Self::UnknownEventType(_) | Self::GatewayEventType(_) => "event_types",
        }
    }
}

impl EndpointSpec {
    /// Event types sorted and deduplicated, description trimmed (empty = none).
    pub fn normalized(mut self) -> Self {
        self.event_types.sort();
        self.event_types.dedup();
        self.description = self.description.map(|d| d.trim().to_string()).filter(|d| !d.is_empty());
        self
    }

    pub fn validate(&self) -> Result<(), EndpointSpecError> {
        if self.url.len() > MAX_URL_LEN {
            return Err(EndpointSpecError::UrlTooLong);
        }
        let url = url::Url::parse(&self.url).map_err(|_| EndpointSpecError::UrlInvalid)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EndpointSpecError::UrlScheme);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(EndpointSpecError::UrlInvalid);
        }
        // Credentials in a URL end up in logs, the dashboard and the event log.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EndpointSpecError::UrlCredentials);
        }
        if let Some(description) = &self.description {
            if description.chars().count() > MAX_DESCRIPTION_LEN
                || description.chars().any(|c| c.is_control() && c != '\n')
            {
                return Err(EndpointSpecError::InvalidDescription);
            }
        }
        if self.event_types.is_empty() {
            return Err(EndpointSpecError::NoEventTypes);
        }
        if let Some(unknown) = self.event_types.iter().find(|t| !is_event_type(t)) {
            return Err(EndpointSpecError::UnknownEventType(bounded_name(unknown)));
        }
        Ok(())
    }

    /// The rules of [`validate`](Self::validate) plus: an organization's endpoint
    /// cannot subscribe to gateway-wide events it would never receive.
    pub fn validate_for(&self, organization_scoped: bool) -> Result<(), EndpointSpecError> {
        self.validate()?;
        if organization_scoped {
            if let Some(global) = self.event_types.iter().find(|t| GATEWAY_EVENT_TYPES.contains(&t.as_str())) {
                return Err(EndpointSpecError::GatewayEventType(global.clone()));
            }
        }
        Ok(())
    }
}

/// An unknown name echoed in an error, cut short (it is client input).
fn bounded_name(name: &str) -> String {
    name.chars().take(64).filter(|c| !c.is_control()).collect()
}
