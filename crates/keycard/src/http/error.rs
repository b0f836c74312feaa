//! The one place that turns an error code into an HTTP status (RFC 6749 §5.2, RFC 6750 §3.1,
//! RFC 7009 §2.2.1): `invalid_client` 401 (+ `WWW-Authenticate: Basic` when Basic was tried),
//! `invalid_token` 401, `insufficient_scope` 403, `server_error` 500,
//! `temporarily_unavailable` 503 (with `Retry-After` when the database is down), everything else
//! 400; a throttled request (too many wrong client secrets, SECURITY D2) is 429 with `Retry-After`. Every error carries
//! `Cache-Control: no-store`. The cause is logged here, never sent.

use crate::oauth::OAuthError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keycard_types::{ErrorBody, ErrorCode};

/// The HTTP status for an error code.
pub fn status_for(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A JSON error response with the no-store headers.
pub fn json_error(status: StatusCode, code: ErrorCode, description: &str) -> Response {
    let body = ErrorBody { error: code, error_description: Some(description.to_owned()) };
    let mut res = (status, axum::Json(body)).into_response();
    no_store(&mut res);
    res
}

/// RFC 6749 §5.1: `Cache-Control: no-store` and `Pragma: no-cache`.
pub fn no_store(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match (self.code, self.retry_after) {
            (ErrorCode::TemporarilyUnavailable, _) => StatusCode::SERVICE_UNAVAILABLE,
            (_, Some(_)) => StatusCode::TOO_MANY_REQUESTS,
            (code, None) => status_for(code),
        };
        match (&self.cause, status.is_server_error()) {
            (Some(cause), true) => {
                tracing::error!(error = %self.code, cause = %cause, "request failed")
            }
            (Some(cause), false) => {
                tracing::debug!(error = %self.code, cause = %cause, "request refused")
            }
            (None, _) => {
                tracing::debug!(error = %self.code, description = %self.description, "request refused")
            }
        }
        let mut res = json_error(status, self.code, &self.description);
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED && self.code == ErrorCode::InvalidClient && self.basic_challenge {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"keycard\", charset=\"UTF-8\""),
            );
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status_for(ErrorCode::InvalidClient), StatusCode::UNAUTHORIZED);
        assert_eq!(status_for(ErrorCode::InvalidGrant), StatusCode::BAD_REQUEST);
        assert_eq!(status_for(ErrorCode::TemporarilyUnavailable), StatusCode::SERVICE_UNAVAILABLE);
        let res = OAuthError::invalid_client("x").with_basic_challenge(true).into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers().contains_key(header::WWW_AUTHENTICATE));
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        let res = OAuthError::invalid_client("x").with_retry_after(7).into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "7");
        let res = OAuthError::temporarily_unavailable(std::io::Error::other("db")).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "a retry hint never turns a 503 into a 429");
        assert_eq!(res.headers()[header::RETRY_AFTER], "2");
    }
}
