//! Error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 8628 §3.5, RFC 7009 §2.2.1 and
//! OpenID Connect Core §3.1.2.6, and the JSON error body of RFC 6749 §5.2.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An OAuth error code. Adding one: add the variant, its string in [`ErrorCode::as_str`] and in
/// `FromStr`, and its HTTP status in the server's `http/error.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// RFC 6749 §5.2: the request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 §5.2: the grant (code, refresh token, credentials) is invalid, expired or revoked.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type / response type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported by the server.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the requested scope is invalid, unknown, or exceeds what is allowed.
    InvalidScope,
    /// RFC 6749 §4.1.2.1: the resource owner or server denied the request.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: the response type is not supported.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1: an unexpected condition (HTTP 500).
    ServerError,
    /// RFC 6749 §4.1.2.1: temporarily overloaded or unavailable (HTTP 503).
    TemporarilyUnavailable,
    /// RFC 6750 §3.1: the access token is invalid, expired or revoked.
    InvalidToken,
    /// RFC 6750 §3.1: the token lacks a required scope.
    InsufficientScope,
    /// RFC 7009 §2.2.1: the server does not support revoking this token type.
    UnsupportedTokenType,
    /// RFC 8628 §3.5: the user has not yet acted on the device request.
    AuthorizationPending,
    /// RFC 8628 §3.5: the device polls too fast.
    SlowDown,
    /// RFC 8628 §3.5: the device code has expired.
    ExpiredToken,
    /// OpenID Connect Core §3.1.2.6: end-user authentication is required.
    LoginRequired,
    /// OpenID Connect Core §3.1.2.6: end-user consent is required.
    ConsentRequired,
    /// OpenID Connect Core §3.1.2.6: some user interaction is required.
    InteractionRequired,
    /// OpenID Connect Core §3.1.2.6: the user must select an account.
    AccountSelectionRequired,
    /// RFC 8707 §2: the requested resource is invalid or unknown.
    InvalidTarget,
    /// OpenID Connect Core §3.1.2.6: the `request` parameter (a request object, §6.1) is not
    /// supported.
    RequestNotSupported,
    /// OpenID Connect Core §3.1.2.6: the `request_uri` parameter (§6.2) is not supported.
    RequestUriNotSupported,
    /// RFC 9101 §6.2, OpenID Connect Core §3.1.2.6: the `request_uri` is unknown, expired,
    /// already used or not the client's.
    InvalidRequestUri,
    /// RFC 9101 §6.2, OpenID Connect Core §3.1.2.6: the request object is invalid (signature,
    /// claims, alg).
    InvalidRequestObject,
    /// RFC 9449 §5 / §7.1: the DPoP proof is missing, invalid or does not match the request.
    InvalidDpopProof,
    /// RFC 9449 §8 / §9: the server requires a DPoP nonce (sent in the `DPoP-Nonce` header).
    UseDpopNonce,
}

impl ErrorCode {
    /// The code as sent on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::InvalidTarget => "invalid_target",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidRequestObject => "invalid_request_object",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }

    const ALL: [ErrorCode; 27] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidScope,
        Self::AccessDenied,
        Self::UnsupportedResponseType,
        Self::ServerError,
        Self::TemporarilyUnavailable,
        Self::InvalidToken,
        Self::InsufficientScope,
        Self::UnsupportedTokenType,
        Self::AuthorizationPending,
        Self::SlowDown,
        Self::ExpiredToken,
        Self::LoginRequired,
        Self::ConsentRequired,
        Self::InteractionRequired,
        Self::AccountSelectionRequired,
        Self::InvalidTarget,
        Self::RequestNotSupported,
        Self::RequestUriNotSupported,
        Self::InvalidRequestUri,
        Self::InvalidRequestObject,
        Self::InvalidDpopProof,
        Self::UseDpopNonce,
    ];
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorCode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or(())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(|()| serde::de::Error::custom(format!("unknown OAuth error code {s:?}")))
    }
}

/// The JSON error body of RFC 6749 §5.2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error code.
    pub error: ErrorCode,
    /// Human-readable text for the developer (never contains secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
        assert!("nope".parse::<ErrorCode>().is_err());
    }
}
