//! OpenID Connect Core §5.3: the UserInfo endpoint. The access token comes from the
//! `Authorization: Bearer` header only (never the query string, OAuth 2.1 §5.1); it must be
//! active and carry `openid`; errors follow RFC 6750 §3.

use super::OAuthError;
use super::introspect::active_access_token;
use crate::state::AppState;
use keycard_types::{ErrorCode, Scope};

/// Why UserInfo refused.
#[derive(Debug)]
pub enum UserinfoError {
    /// No token at all (RFC 6750 §3.1: no error code).
    Missing,
    /// Malformed request (400 `invalid_request`).
    InvalidRequest(&'static str),
    /// Invalid, expired or revoked token (401 `invalid_token`).
    InvalidToken,
    /// The token lacks `openid` (403 `insufficient_scope`).
    InsufficientScope,
    /// Server-side failure.
    Server(OAuthError),
}

impl From<OAuthError> for UserinfoError {
    fn from(e: OAuthError) -> Self {
        UserinfoError::Server(e)
    }
}

impl From<crate::store::StoreError> for UserinfoError {
    fn from(e: crate::store::StoreError) -> Self {
        UserinfoError::Server(e.into())
    }
}

/// Parses `Authorization` header values into a bearer token (scheme case-insensitive).
pub fn bearer(headers: &[&[u8]]) -> Result<String, UserinfoError> {
    match headers {
        [] => Err(UserinfoError::Missing),
        [h] => {
            let h =
                std::str::from_utf8(h).map_err(|_| UserinfoError::InvalidRequest("malformed Authorization header"))?;
            let (scheme, token) =
                h.split_once(' ').ok_or(UserinfoError::InvalidRequest("malformed Authorization header"))?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(UserinfoError::Missing);
            }
            let token = token.trim();
            if token.is_empty() || token.contains(' ') || token.len() > 8192 {
                return Err(UserinfoError::InvalidRequest("malformed bearer token"));
            }
            Ok(token.to_owned())
        }
        _ => Err(UserinfoError::InvalidRequest("more than one Authorization header")),
    }
}

/// The claims for the token's user.
pub async fn userinfo(state: &AppState, token: &str) -> Result<serde_json::Value, UserinfoError> {
    let Some(t) = active_access_token(state, token).await? else { return Err(UserinfoError::InvalidToken) };
    // The internal user id comes from the token's grant, never from its `sub` (which is
    // pairwise when so configured, issue 14 defect 7); a client-credentials token has none.
    let Some(user_id) = t.user_id.as_deref() else { return Err(UserinfoError::InvalidToken) };
    let scope = Scope::parse(t.scope.as_deref().unwrap_or("")).unwrap_or_default();
    if !scope.contains("openid") {
        return Err(UserinfoError::InsufficientScope);
    }
    let Some(user) = state.store.get_user(user_id).await?.filter(|u| !u.disabled) else {
        return Err(UserinfoError::InvalidToken);
    };
    let Some(client) = state.clients.get(&state.store, &t.client_id).await? else {
        return Err(UserinfoError::InvalidToken);
    };
    // RFC 9068 §4 / RFC 8725 §3.9: the audience must be the one Keycard gives this client's
    // tokens; a token naming any other audience was not issued for use here (SECURITY E2).
    if t.aud != client.settings.audience.as_deref().unwrap_or_else(|| state.config.default_audience()) {
        return Err(UserinfoError::InvalidToken);
    }
    Ok(super::oidc::userinfo_claims(state, &user, &client, &scope))
}

/// The RFC 6750 error code of a refusal.
pub fn error_code(e: &UserinfoError) -> Option<ErrorCode> {
    match e {
        UserinfoError::Missing => None,
        UserinfoError::InvalidRequest(_) => Some(ErrorCode::InvalidRequest),
        UserinfoError::InvalidToken => Some(ErrorCode::InvalidToken),
        UserinfoError::InsufficientScope => Some(ErrorCode::InsufficientScope),
        UserinfoError::Server(e) => Some(e.code),
    }
}
