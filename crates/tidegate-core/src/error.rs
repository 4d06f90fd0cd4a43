//! The fixed error vocabulary of CONTRACT §4 and the classified error a layer returns.

use std::{fmt, time::Duration};

use crate::BoxError;

/// Every problem `code` tidegate can answer with. Callers switch on it whatever the vendor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Missing or wrong environment api key / admin key.
    Unauthorized,
    /// No connector of that name.
    UnknownConnector,
    /// No such account, or an account of another environment.
    UnknownAccount,
    /// The account's grant was revoked; a human must reconnect it.
    NeedsReauth,
    /// The token endpoint failed for a retryable reason.
    TokenRefreshFailed,
    /// The upstream's circuit breaker is open.
    CircuitOpen,
    /// The connector's concurrency limit is reached (load shed).
    Overloaded,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The upstream could not be reached or reset the connection.
    UpstreamUnavailable,
    /// Rate limited, by the upstream (passed through) or by local pacing.
    RateLimited,
    /// Upstream 400, or a malformed request to the gateway.
    InvalidRequest,
    /// Upstream 401 after one refresh-and-retry.
    UpstreamUnauthorized,
    /// Upstream 403.
    Forbidden,
    /// Upstream 404, or an unknown gateway route.
    NotFound,
    /// Upstream 409.
    Conflict,
    /// Upstream 422.
    ValidationFailed,
    /// Any other upstream 4xx.
    UpstreamClientError,
    /// Any other upstream 5xx.
    UpstreamServerError,
    /// Request body over `server.max_request_body`.
    PayloadTooLarge,
    /// Inbound webhook with a bad, missing or stale signature.
    InvalidSignature,
    /// A failure inside the gateway itself (storage unreachable, a bug). An addition to the
    /// CONTRACT §4 table: without it such failures would have to borrow an upstream's code.
    InternalError,
}

impl ErrorCode {
    /// All codes, for documentation and exhaustive tests.
    pub const ALL: [ErrorCode; 21] = [
        ErrorCode::Unauthorized,
        ErrorCode::UnknownConnector,
        ErrorCode::UnknownAccount,
        ErrorCode::NeedsReauth,
        ErrorCode::TokenRefreshFailed,
        ErrorCode::CircuitOpen,
        ErrorCode::Overloaded,
        ErrorCode::UpstreamTimeout,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::RateLimited,
        ErrorCode::InvalidRequest,
        ErrorCode::UpstreamUnauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::ValidationFailed,
        ErrorCode::UpstreamClientError,
        ErrorCode::UpstreamServerError,
        ErrorCode::PayloadTooLarge,
        ErrorCode::InvalidSignature,
        ErrorCode::InternalError,
    ];

    /// The snake_case wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::UnknownConnector => "unknown_connector",
            ErrorCode::UnknownAccount => "unknown_account",
            ErrorCode::NeedsReauth => "needs_reauth",
            ErrorCode::TokenRefreshFailed => "token_refresh_failed",
            ErrorCode::CircuitOpen => "circuit_open",
            ErrorCode::Overloaded => "overloaded",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::UpstreamUnavailable => "upstream_unavailable",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UpstreamUnauthorized => "upstream_unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::UpstreamClientError => "upstream_client_error",
            ErrorCode::UpstreamServerError => "upstream_server_error",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::InternalError => "internal_error",
        }
    }

    /// Parses a wire name (as produced by [`ErrorCode::as_str`]).
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The HTTP status the gateway answers with when it produces this error itself.
    /// (Normalized upstream errors keep the upstream's status instead.)
    pub const fn status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            ErrorCode::Unauthorized => S::UNAUTHORIZED,
            ErrorCode::UnknownConnector | ErrorCode::UnknownAccount | ErrorCode::NotFound => {
                S::NOT_FOUND
            }
            ErrorCode::NeedsReauth => S::FAILED_DEPENDENCY,
            ErrorCode::TokenRefreshFailed | ErrorCode::UpstreamUnavailable => S::BAD_GATEWAY,
            ErrorCode::CircuitOpen | ErrorCode::Overloaded => S::SERVICE_UNAVAILABLE,
            ErrorCode::UpstreamTimeout => S::GATEWAY_TIMEOUT,
            ErrorCode::RateLimited => S::TOO_MANY_REQUESTS,
            ErrorCode::InvalidRequest => S::BAD_REQUEST,
            ErrorCode::UpstreamUnauthorized => S::UNAUTHORIZED,
            ErrorCode::Forbidden => S::FORBIDDEN,
            ErrorCode::Conflict => S::CONFLICT,
            ErrorCode::ValidationFailed => S::UNPROCESSABLE_ENTITY,
            ErrorCode::UpstreamClientError => S::BAD_REQUEST,
            ErrorCode::UpstreamServerError => S::BAD_GATEWAY,
            ErrorCode::PayloadTooLarge => S::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidSignature => S::UNAUTHORIZED,
            ErrorCode::InternalError => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether a caller may retry the same request later and expect a different outcome.
    pub const fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::TokenRefreshFailed
                | ErrorCode::CircuitOpen
                | ErrorCode::Overloaded
                | ErrorCode::UpstreamTimeout
                | ErrorCode::UpstreamUnavailable
                | ErrorCode::RateLimited
                | ErrorCode::UpstreamServerError
                | ErrorCode::InternalError
        )
    }

    /// A short human title for the problem document.
    pub const fn title(self) -> &'static str {
        match self {
            ErrorCode::Unauthorized => "Unauthorized",
            ErrorCode::UnknownConnector => "Unknown connector",
            ErrorCode::UnknownAccount => "Unknown account",
            ErrorCode::NeedsReauth => "Account needs re-authorization",
            ErrorCode::TokenRefreshFailed => "Token refresh failed",
            ErrorCode::CircuitOpen => "Circuit open for upstream",
            ErrorCode::Overloaded => "Connector overloaded",
            ErrorCode::UpstreamTimeout => "Upstream timed out",
            ErrorCode::UpstreamUnavailable => "Upstream unavailable",
            ErrorCode::RateLimited => "Rate limited by upstream",
            ErrorCode::InvalidRequest => "Invalid request",
            ErrorCode::UpstreamUnauthorized => "Upstream rejected the credentials",
            ErrorCode::Forbidden => "Forbidden by upstream",
            ErrorCode::NotFound => "Not found",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::ValidationFailed => "Validation failed",
            ErrorCode::UpstreamClientError => "Upstream client error",
            ErrorCode::UpstreamServerError => "Upstream server error",
            ErrorCode::PayloadTooLarge => "Payload too large",
            ErrorCode::InvalidSignature => "Invalid webhook signature",
            ErrorCode::InternalError => "Internal gateway error",
        }
    }

    /// The default class of an upstream error status (before any JSONata refinement).
    pub fn from_upstream_status(status: http::StatusCode) -> Option<ErrorCode> {
        Some(match status.as_u16() {
            400 => ErrorCode::InvalidRequest,
            401 => ErrorCode::UpstreamUnauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            409 => ErrorCode::Conflict,
            422 => ErrorCode::ValidationFailed,
            429 => ErrorCode::RateLimited,
            402..=499 => ErrorCode::UpstreamClientError,
            500..=599 => ErrorCode::UpstreamServerError,
            _ => return None,
        })
    }

    /// The problem `type` URI.
    pub fn type_uri(self) -> String {
        format!("https://tidegate.dev/problems/{}", self.as_str())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified failure produced inside a connector stack (or the gateway).
///
/// `detail` is shown to the caller, so it must never contain a credential; the optional
/// `source` is for operators' logs and must not either.
#[derive(Debug)]
pub struct Error {
    code: ErrorCode,
    detail: String,
    retry_after: Option<Duration>,
    source: Option<BoxError>,
}

impl Error {
    /// A new error of class `code` with a caller-facing `detail`.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            retry_after: None,
            source: None,
        }
    }

    /// Attaches the time after which a retry may succeed (becomes `Retry-After`).
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The class.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The caller-facing detail.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// When a retry may succeed.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Converts a boxed error from a generic tower layer: an [`Error`] inside is unwrapped,
    /// tower's timeout becomes `upstream_timeout`, anything else `upstream_unavailable`.
    pub fn from_box(err: BoxError) -> Self {
        match err.downcast::<Error>() {
            Ok(e) => *e,
            Err(other) => {
                let code = if other.to_string().contains("timed out")
                    || other.to_string().contains("deadline")
                {
                    ErrorCode::UpstreamTimeout
                } else {
                    ErrorCode::UpstreamUnavailable
                };
                Error::new(code, code.title()).with_source(other)
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_has_a_class() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert!(!code.title().is_empty());
        }
    }

    #[test]
    fn contract_statuses_and_retryability() {
        assert_eq!(ErrorCode::NeedsReauth.status(), 424);
        assert!(!ErrorCode::NeedsReauth.retryable());
        assert_eq!(ErrorCode::CircuitOpen.status(), 503);
        assert!(ErrorCode::CircuitOpen.retryable());
        assert_eq!(ErrorCode::UpstreamTimeout.status(), 504);
        assert_eq!(ErrorCode::RateLimited.status(), 429);
        assert!(ErrorCode::RateLimited.retryable());
        assert!(!ErrorCode::Forbidden.retryable());
    }

    #[test]
    fn upstream_status_classes() {
        use http::StatusCode as S;
        assert_eq!(ErrorCode::from_upstream_status(S::OK), None);
        assert_eq!(
            ErrorCode::from_upstream_status(S::TOO_MANY_REQUESTS),
            Some(ErrorCode::RateLimited)
        );
        assert_eq!(
            ErrorCode::from_upstream_status(S::GONE),
            Some(ErrorCode::UpstreamClientError)
        );
        assert_eq!(
            ErrorCode::from_upstream_status(S::SERVICE_UNAVAILABLE),
            Some(ErrorCode::UpstreamServerError)
        );
    }

    #[test]
    fn from_box_unwraps_our_error() {
        let boxed: BoxError = Box::new(Error::new(ErrorCode::CircuitOpen, "open"));
        assert_eq!(Error::from_box(boxed).code(), ErrorCode::CircuitOpen);
    }
}
