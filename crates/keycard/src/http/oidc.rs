//! OpenID Connect Core §5.3: `GET`/`POST /userinfo`, with RFC 6750 §3 errors.

use crate::oauth::userinfo::{self, UserinfoError};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

fn bearer_error(status: StatusCode, code: Option<&str>, description: &str) -> Response {
    let challenge = match code {
        Some(c) => format!("Bearer realm=\"keycard\", error=\"{c}\", error_description=\"{description}\""),
        None => "Bearer realm=\"keycard\"".to_owned(),
    };
    let mut res = match code {
        Some(c) => (status, Json(serde_json::json!({"error": c, "error_description": description}))).into_response(),
        None => status.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    crate::http::error::no_store(&mut res);
    res
}

/// OIDC Core §5.3.1: returns the claims of the token's user.
pub async fn userinfo(State(state): State<AppState>, req: Request) -> Response {
    // OAuth 2.1 §5.1: bearer tokens in the query string are refused; such a token is not a
    // credential here, so the answer is RFC 6750 §3.1 invalid_token (SECURITY I7).
    if req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some("access_token"))) {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            "access tokens are not accepted in the URL; send them in the Authorization header",
        );
    }
    let headers: Vec<&[u8]> = req.headers().get_all(header::AUTHORIZATION).iter().map(|v| v.as_bytes()).collect();
    let result = match userinfo::bearer(&headers) {
        Ok(token) => userinfo::userinfo(&state, &token).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(claims) => {
            let mut res = Json(claims).into_response();
            crate::http::error::no_store(&mut res);
            res
        }
        Err(UserinfoError::Missing) => bearer_error(StatusCode::UNAUTHORIZED, None, ""),
        Err(UserinfoError::InvalidRequest(d)) => bearer_error(StatusCode::BAD_REQUEST, Some("invalid_request"), d),
        Err(UserinfoError::InvalidToken) => bearer_error(
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            "the access token is invalid, expired or revoked",
        ),
        Err(UserinfoError::InsufficientScope) => {
            bearer_error(StatusCode::FORBIDDEN, Some("insufficient_scope"), "the access token lacks the openid scope")
        }
        Err(UserinfoError::Server(e)) => e.into_response(),
    }
}
