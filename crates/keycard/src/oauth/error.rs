//! The one protocol error type. The description is sent to the client as `error_description`
//! and must never contain a secret; the cause is logged, never sent. Turning a code into an HTTP
//! status is the job of `http/error.rs` alone.

use crate::store::StoreError;
use keycard_types::ErrorCode;
use std::borrow::Cow;
use std::fmt;

/// An OAuth protocol error (RFC 6749 §5.2 and friends).
pub struct OAuthError {
    /// The RFC error code.
    pub code: ErrorCode,
    /// Public description (`error_description`).
    pub description: Cow<'static, str>,
    /// Private cause, for the log only.
    pub cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    /// The client tried HTTP Basic authentication: a 401 must carry `WWW-Authenticate: Basic`
    /// (RFC 6749 §5.2).
    pub basic_challenge: bool,
    /// Seconds the client should wait before it tries again (`Retry-After`): a throttled
    /// request is answered 429, a `temporarily_unavailable` one 503.
    pub retry_after: Option<i64>,
}

impl OAuthError {
    /// An error with a public description.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self { code, description: description.into(), cause: None, basic_challenge: false, retry_after: None }
    }

    /// Attaches a private cause (logged, never sent).
    pub fn with_cause(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// Sets `Retry-After: secs`: 429 Too Many Requests for a throttled request, 503 for
    /// `temporarily_unavailable`.
    pub fn with_retry_after(mut self, secs: i64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Marks that the response must carry a Basic challenge.
    pub fn with_basic_challenge(mut self, yes: bool) -> Self {
        self.basic_challenge = yes;
        self
    }

    /// `invalid_request`.
    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    /// `invalid_client`.
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    /// `invalid_scope`.
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }

    /// `server_error` with a cause.
    pub fn server_error(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::new(ErrorCode::ServerError, "the server hit an unexpected condition").with_cause(cause)
    }
}

/// `Retry-After` of a 503 answered because the database is unavailable: short, since a node
/// notices the database is back within `database.health_interval_ms` (docs/reliability.md §3).
pub const UNAVAILABLE_RETRY_AFTER_SECS: i64 = 2;

impl OAuthError {
    /// `temporarily_unavailable` (RFC 6749 §4.1.2.1; 503 with `Retry-After`, RFC 9110 §10.2.3).
    pub fn temporarily_unavailable(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::new(ErrorCode::TemporarilyUnavailable, "the service is temporarily unavailable")
            .with_cause(cause)
            .with_retry_after(UNAVAILABLE_RETRY_AFTER_SECS)
    }
}

impl From<StoreError> for OAuthError {
    /// A database that cannot be reached (or cannot write: disk full, locked) is
    /// `temporarily_unavailable` (503 with `Retry-After`), never a protocol answer such as
    /// `invalid_client` or `active:false` (RFC 7009 §2.2.1, SECURITY E6).
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Self::temporarily_unavailable(e),
            _ => Self::server_error(e),
        }
    }
}

impl fmt::Debug for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthError")
            .field("code", &self.code)
            .field("description", &self.description)
            .field("cause", &self.cause.as_ref().map(|c| c.to_string()))
            .finish()
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}
