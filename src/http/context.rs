//! Where a request comes from, for the audit metadata of the events it causes.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::request_id::ClientRequestId;
use crate::admin::Actor;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The server's own id (see `http::request_id`).
    pub request_id: Option<String>,
    /// The client's `x-request-id`, when it was acceptable.
    pub client_request_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestContext {
    pub fn actor(&self, principal: &Principal) -> Actor {
        Actor {
            kind: principal.kind().to_string(),
            id: principal.id().to_string(),
            name: principal.name().to_string(),
            request_id: self.request_id.clone(),
            client_request_id: self.client_request_id.clone(),
            client_ip: self.client_ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(|v| v.chars().take(512).collect())
}

impl FromRequestParts<AppState> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip().to_string());
        // Behind a trusted proxy the client is the first X-Forwarded-For hop.
        let forwarded = state
            .config
            .trust_forwarded_for
            .then(|| header(&parts.headers, "x-forwarded-for"))
            .flatten()
            .and_then(|v| v.split(',').next().map(|ip| ip.trim().to_string()));
        Ok(RequestContext {
            request_id: header(&parts.headers, REQUEST_ID_HEADER),
            client_request_id: parts.extensions.get::<ClientRequestId>().map(|ClientRequestId(id)| id.clone()),
            client_ip: forwarded.or(peer),
            user_agent: header(&parts.headers, "user-agent"),
        })
    }
}
