/// Why a call to an upstream provider failed. `http_status` is what GaiaRouter answers,
/// `kind` is the short code recorded in `RequestCompleted`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The upstream answered 4xx. 401/403 mean GaiaRouter's own provider key is wrong.
    /// `retry_after_secs`: the upstream's `Retry-After` (on 429), which the router
    /// uses as the deployment's cooldown.
    #[error("{}", client_error_message(*status, message))]
    UpstreamClientError { status: u16, message: String, retry_after_secs: Option<u64> },
    #[error("upstream provider failed with status {status}: {message}")]
    UpstreamServerError { status: u16, message: String },
    #[error("upstream provider did not answer in time")]
    Timeout,
    #[error("could not reach the upstream provider: {0}")]
    Connection(String),
    #[error("upstream provider sent a malformed response: {0}")]
    InvalidResponse(String),
    #[error("upstream provider ended the stream before it was complete")]
    StreamCut,
    /// The request uses something this provider cannot express (e.g. `n > 1` on Anthropic).
    #[error("{0}")]
    UnsupportedRequest(String),
}

/// A credential refusal is answered without the upstream's words: they are about the
/// operator's key, not the client's request, and OpenAI's even quote the key's first
/// and last characters ("Incorrect API key provided: sk-pr****abcd").
fn client_error_message(status: u16, message: &str) -> String {
    if is_credential_status(status) {
        format!(
            "the upstream provider rejected GaiaRouter's credentials (status {status}); \
             the gateway's API key for this provider is missing, invalid or not allowed to do this"
        )
    } else {
        message.to_owned()
    }
}

fn is_credential_status(status: u16) -> bool {
    status == 401 || status == 403
}

impl ProviderError {
    /// Maps a non-success upstream status and its message to an error.
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let message = message.into();
        if (400..500).contains(&status) {
            ProviderError::UpstreamClientError { status, message, retry_after_secs: None }
        } else {
            ProviderError::UpstreamServerError { status, message }
        }
    }

    /// Adds the upstream's `Retry-After` (seconds) to a client error.
    pub fn with_retry_after(self, seconds: Option<u64>) -> Self {
        match self {
            ProviderError::UpstreamClientError { status, message, .. } => {
                ProviderError::UpstreamClientError { status, message, retry_after_secs: seconds }
            }
            other => other,
        }
    }

    /// What the upstream asked to wait, if anything.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ProviderError::UpstreamClientError { retry_after_secs: Some(secs), .. } => {
                Some(std::time::Duration::from_secs(*secs))
            }
            _ => None,
        }
    }

    /// The status GaiaRouter answers with. Upstream 4xx pass through (429 stays 429)
    /// except 401/403, which are our misconfiguration and so a bad gateway.
    pub fn http_status(&self) -> u16 {
        match self {
            ProviderError::UpstreamClientError { status, .. } if is_credential_status(*status) => 502,
            ProviderError::UpstreamClientError { status, .. } => *status,
            ProviderError::UpstreamServerError { .. }
            | ProviderError::Connection(_)
            | ProviderError::InvalidResponse(_)
            | ProviderError::StreamCut => 502,
            ProviderError::Timeout => 504,
            ProviderError::UnsupportedRequest(_) => 400,
        }
    }

    /// Short snake_case code recorded in events.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::UpstreamClientError { status: 429, .. } => "upstream_rate_limited",
            ProviderError::UpstreamClientError { status, .. } if is_credential_status(*status) => {
                "upstream_auth_failed"
            }
            ProviderError::UpstreamClientError { .. } => "upstream_client_error",
            ProviderError::UpstreamServerError { .. } => "upstream_server_error",
            ProviderError::Timeout => "upstream_timeout",
            ProviderError::Connection(_) => "upstream_connection_error",
            ProviderError::InvalidResponse(_) => "upstream_invalid_response",
            ProviderError::StreamCut => "upstream_stream_cut",
            ProviderError::UnsupportedRequest(_) => "unsupported_request",
        }
    }

    /// The `error.type` of OpenAI's error body.
    pub fn openai_error_type(&self) -> &'static str {
        match self.http_status() {
            429 => "rate_limit_error",
            404 => "not_found_error",
            504 => "timeout_error",
            400..=499 => "invalid_request_error",
            _ => "upstream_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_client_errors_keep_their_status_and_message() {
        for status in [400, 404, 413, 422, 429] {
            let error = ProviderError::from_status(status, "model `x` does not exist");
            assert_eq!(error.http_status(), status);
            assert_eq!(error.to_string(), "model `x` does not exist");
        }
        assert_eq!(ProviderError::from_status(429, "slow down").kind(), "upstream_rate_limited");
        assert_eq!(ProviderError::from_status(429, "slow down").openai_error_type(), "rate_limit_error");
        assert_eq!(ProviderError::from_status(400, "bad").openai_error_type(), "invalid_request_error");
    }

    #[test]
    fn upstream_credential_failures_are_a_bad_gateway_and_say_our_key_is_wrong() {
        for status in [401, 403] {
            let error = ProviderError::from_status(status, "invalid x-api-key");
            assert_eq!(error.http_status(), 502);
            assert_eq!(error.kind(), "upstream_auth_failed");
            assert!(error.to_string().contains("GaiaRouter's credentials"));
            assert!(!error.to_string().contains("invalid x-api-key"), "the upstream's words stay out");
        }
    }

    #[test]
    fn server_side_failures_map_to_502_and_timeouts_to_504() {
        assert_eq!(ProviderError::from_status(500, "boom").http_status(), 502);
        assert_eq!(ProviderError::from_status(529, "overloaded").kind(), "upstream_server_error");
        assert_eq!(ProviderError::Connection("refused".into()).http_status(), 502);
        assert_eq!(ProviderError::InvalidResponse("not json".into()).http_status(), 502);
        assert_eq!(ProviderError::StreamCut.http_status(), 502);
        assert_eq!(ProviderError::StreamCut.kind(), "upstream_stream_cut");
        assert_eq!(ProviderError::Timeout.http_status(), 504);
        assert_eq!(ProviderError::Timeout.kind(), "upstream_timeout");
        assert_eq!(ProviderError::Timeout.openai_error_type(), "timeout_error");
        assert_eq!(ProviderError::UnsupportedRequest("n > 1".into()).http_status(), 400);
    }
}
