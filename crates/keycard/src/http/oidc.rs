//! OpenID Connect Core §5.3: `GET`/`POST /userinfo`, with RFC 6750 §3 errors and, for
//! DPoP-bound tokens, RFC 9449 §7.1 `DPoP` challenges.

use crate::oauth::userinfo::{self, ResourceRequest, Scheme, UserinfoError};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// RFC 6750 §3 / RFC 9449 §7.1: the error response with its `WWW-Authenticate` challenge in
/// `scheme` (`DPoP` challenges list the accepted proof algorithms).
fn challenge_error(scheme: Scheme, status: StatusCode, code: Option<&str>, description: &str) -> Response {
    let mut params = vec!["realm=\"keycard\"".to_owned()];
    if scheme == Scheme::Dpop {
        let algs: Vec<&str> = keycard_resource::dpop::SUPPORTED_ALGS.iter().map(|a| a.as_str()).collect();
        params.push(format!("algs=\"{}\"", algs.join(" ")));
    }
    if let Some(c) = code {
        params.push(format!("error=\"{c}\""));
        params.push(format!("error_description=\"{description}\""));
    }
    let name = if scheme == Scheme::Dpop { "DPoP" } else { "Bearer" };
    let challenge = format!("{name} {}", params.join(", "));
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

fn bearer_error(status: StatusCode, code: Option<&str>, description: &str) -> Response {
    challenge_error(Scheme::Bearer, status, code, description)
}

/// OIDC Core §5.3.1: returns the claims of the token's user (RFC 9449 §7.1 for DPoP tokens).
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
    let dpop: Vec<&[u8]> = req.headers().get_all(&super::oauth::DPOP).iter().map(|v| v.as_bytes()).collect();
    let resource = ResourceRequest { method: req.method().as_str(), dpop: &dpop };
    let mut scheme = Scheme::Bearer;
    let result = match userinfo::credentials(&headers) {
        Ok((token, s)) => {
            scheme = s;
            userinfo::userinfo(&state, &token, s, &resource).await
        }
        Err(e) => Err(e),
    };
    let mut res = match result {
        Ok(claims) => {
            let mut res = Json(claims).into_response();
            crate::http::error::no_store(&mut res);
            res
        }
        Err(UserinfoError::Missing) => bearer_error(StatusCode::UNAUTHORIZED, None, ""),
        Err(UserinfoError::InvalidRequest(d)) => {
            challenge_error(scheme, StatusCode::BAD_REQUEST, Some("invalid_request"), d)
        }
        Err(UserinfoError::InvalidToken) => challenge_error(
            scheme,
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            if scheme == Scheme::Dpop {
                "the access token is invalid, expired, revoked or not DPoP-bound"
            } else {
                "the access token is invalid, expired or revoked"
            },
        ),
        Err(UserinfoError::DpopBound) => challenge_error(
            Scheme::Dpop,
            StatusCode::UNAUTHORIZED,
            Some("invalid_token"),
            "the access token is DPoP-bound: use the DPoP authorization scheme with a proof",
        ),
        Err(UserinfoError::Dpop(e)) => {
            challenge_error(Scheme::Dpop, StatusCode::UNAUTHORIZED, Some(e.code.as_str()), &e.description)
        }
        Err(UserinfoError::InsufficientScope) => challenge_error(
            scheme,
            StatusCode::FORBIDDEN,
            Some("insufficient_scope"),
            "the access token lacks the openid scope",
        ),
        Err(UserinfoError::Server(e)) => e.into_response(),
    };
    super::oauth::add_dpop_nonce(&state, &mut res);
    res
}
