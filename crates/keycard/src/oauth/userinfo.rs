//! OpenID Connect Core §5.3: the UserInfo endpoint. The access token comes from the
//! `Authorization` header only (never the query string, OAuth 2.1 §5.1), in the `Bearer` scheme
//! (RFC 6750 §2.1) or, for a DPoP-bound token, the `DPoP` scheme with a proof (RFC 9449 §7.1:
//! `ath` and the token's key checked, the proof's `jti` consumed once). A bound token sent as
//! `Bearer` is refused (§7.2), and so is an unbound one sent as `DPoP` (there is no key to
//! check the proof against). It must be active and carry `openid`; errors follow RFC 6750 §3
//! and RFC 9449 §7.1.

use super::OAuthError;
use super::introspect::active_access_token;
use crate::state::AppState;
use keycard_types::{ErrorCode, Scope};

/// Why UserInfo refused.
#[derive(Debug)]
pub enum UserinfoError {
    /// No token at all (RFC 6750 §3.1: no error code).
    Missing,
    /// RFC 9449 §7.2: a DPoP-bound token presented as a bearer token (401 `invalid_token`
    /// with a `DPoP` challenge).
    DpopBound,
    /// RFC 9449 §7.1: the proof is missing or refused (`invalid_dpop_proof`, or
    /// `use_dpop_nonce` when a server nonce is required). An unbound token in the DPoP scheme
    /// is [`UserinfoError::InvalidToken`] (with a `DPoP` challenge).
    Dpop(OAuthError),
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

/// How the token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RFC 6750 §2.1.
    Bearer,
    /// RFC 9449 §7.1.
    Dpop,
}

/// The request facts UserInfo needs beyond the token (RFC 9449 §4.3: method and proofs).
#[derive(Debug, Clone, Copy)]
pub struct ResourceRequest<'a> {
    /// The HTTP method (`GET` or `POST`), for `htm`.
    pub method: &'a str,
    /// Every `DPoP` header value.
    pub dpop: &'a [&'a [u8]],
}

/// Parses `Authorization` header values into a token and its scheme (`Bearer` or `DPoP`,
/// case-insensitive); any other scheme is no token.
pub fn credentials(headers: &[&[u8]]) -> Result<(String, Scheme), UserinfoError> {
    match headers {
        [] => Err(UserinfoError::Missing),
        [h] => {
            let h =
                std::str::from_utf8(h).map_err(|_| UserinfoError::InvalidRequest("malformed Authorization header"))?;
            let (scheme, token) =
                h.split_once(' ').ok_or(UserinfoError::InvalidRequest("malformed Authorization header"))?;
            let scheme = if scheme.eq_ignore_ascii_case("bearer") {
                Scheme::Bearer
            } else if scheme.eq_ignore_ascii_case("dpop") {
                Scheme::Dpop
            } else {
                return Err(UserinfoError::Missing);
            };
            let token = token.trim();
            if token.is_empty() || token.contains(' ') || token.len() > 8192 {
                return Err(UserinfoError::InvalidRequest("malformed bearer token"));
            }
            Ok((token.to_owned(), scheme))
        }
        _ => Err(UserinfoError::InvalidRequest("more than one Authorization header")),
    }
}

/// OIDC Core §5.3.1 + RFC 9449 §7.1: the claims for the token's user; a token in the DPoP
/// scheme needs its proof (`req`) first.
pub async fn userinfo(
    state: &AppState,
    token: &str,
    scheme: Scheme,
    req: &ResourceRequest<'_>,
) -> Result<serde_json::Value, UserinfoError> {
    let Some(t) = active_access_token(state, token).await? else { return Err(UserinfoError::InvalidToken) };
    match (scheme, t.jkt.as_deref()) {
        (Scheme::Bearer, None) => {}
        (Scheme::Bearer, Some(_)) => return Err(UserinfoError::DpopBound),
        (Scheme::Dpop, None) => return Err(UserinfoError::InvalidToken),
        (Scheme::Dpop, Some(jkt)) => {
            super::dpop::resource_proof(state, req.dpop, req.method, "/userinfo", token, jkt).await.map_err(
                |e| match e.code {
                    ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce => UserinfoError::Dpop(e),
                    _ => UserinfoError::Server(e),
                },
            )?;
        }
    }
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
        UserinfoError::DpopBound => Some(ErrorCode::InvalidToken),
        UserinfoError::Dpop(e) => Some(e.code),
        UserinfoError::InvalidRequest(_) => Some(ErrorCode::InvalidRequest),
        UserinfoError::InvalidToken => Some(ErrorCode::InvalidToken),
        UserinfoError::InsufficientScope => Some(ErrorCode::InsufficientScope),
        UserinfoError::Server(e) => Some(e.code),
    }
}
