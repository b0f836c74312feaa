//! Extractors that turn malformed input into RFC 6749 `invalid_request` JSON instead of axum's
//! plain-text rejections.

use crate::oauth::OAuthError;
use crate::oauth::params::Params;
use crate::state::AppState;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use keycard_types::ErrorCode;

/// A POSTed `application/x-www-form-urlencoded` body, strictly parsed, plus the
/// `Authorization` header. Refuses: a query string (credentials and grants belong in the body,
/// OAuth 2.1 §2.4.1 / §3.2), another content type, a body over `http.body_limit_bytes` (413),
/// invalid UTF-8, broken escapes and repeated parameters.
pub struct OAuthForm {
    /// The parameters.
    pub params: Params,
    /// The raw `Authorization` header, when present (and present only once).
    pub authorization: Option<Vec<u8>>,
    /// The `Origin` header of a browser request.
    pub origin: Option<String>,
    /// The client's IP address (for throttling).
    pub ip: String,
}

/// Rejection of [`OAuthForm`].
pub struct FormRejection(Response);

impl IntoResponse for FormRejection {
    fn into_response(self) -> Response {
        self.0
    }
}

impl From<OAuthError> for FormRejection {
    fn from(e: OAuthError) -> Self {
        FormRejection(e.into_response())
    }
}

impl FromRequest<AppState> for OAuthForm {
    type Rejection = FormRejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if req.uri().query().is_some_and(|q| !q.is_empty()) {
            return Err(
                OAuthError::invalid_request("parameters must be sent in the request body, not in the URL").into()
            );
        }
        let headers = req.headers();
        let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(
                OAuthError::invalid_request("the request body must be application/x-www-form-urlencoded").into()
            );
        }
        if let Some(cs) = ct.split(';').skip(1).find_map(|p| p.trim().strip_prefix("charset="))
            && !cs.trim_matches('"').eq_ignore_ascii_case("utf-8")
        {
            return Err(OAuthError::invalid_request("only the UTF-8 charset is accepted").into());
        }
        let ip = req.extensions().get::<crate::http::ClientIp>().map(|c| c.0.to_string()).unwrap_or_default();
        let headers = req.headers();
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut auth = headers.get_all(header::AUTHORIZATION).iter();
        let authorization = auth.next().map(|v| v.as_bytes().to_vec());
        if auth.next().is_some() {
            return Err(OAuthError::invalid_request("more than one Authorization header").into());
        }
        let limit = state.config.http.body_limit_bytes;
        let too_large = || {
            FormRejection(crate::http::error::json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::InvalidRequest,
                "the request body is too large",
            ))
        };
        if let Some(len) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok())
            && len.parse::<u64>().map_or(true, |n| n > limit as u64)
        {
            return Err(too_large());
        }
        let body = axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if s.is::<http_body_util::LengthLimitError>() {
                    return too_large();
                }
                source = s.source();
            }
            FormRejection::from(OAuthError::invalid_request("the request body could not be read"))
        })?;
        let params = Params::parse(&body)?;
        Ok(OAuthForm { params, authorization, origin, ip })
    }
}

/// A path made safe for a log line (bounded, printable).
pub fn loggable_path(p: &str) -> String {
    p.chars().take(200).map(|c| if c.is_ascii_graphic() { c } else { '?' }).collect()
}
