//! The one error type of this crate and its mapping to RFC 6750 §3 responses.
//!
//! Adding a rejection reason: add an [`InvalidToken`] variant with a fixed public description
//! (it is sent to the caller, so it must never echo any part of the token, not even its `kid`).
//! Adding an [`Error`] variant: give it a status in [`Error::status`] and a code in
//! [`Error::error_code`]; the axum response follows from those two.

use http::StatusCode;
use keycard_types::{ErrorCode, Scope};
use std::fmt;

/// A boxed error from an HTTP client, a parser or similar, kept as the cause of
/// [`Error::Unavailable`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a token was refused. Each reason has a fixed description that is safe to send to the
/// client as `error_description` (RFC 6750 §3): none of them contains any part of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Not a JWT (three base64url parts) nor an opaque Keycard access token (`kc_at_…`), or a
    /// part does not decode.
    Malformed,
    /// The JWT header `typ` is not `at+jwt` (RFC 9068 §2.1), so this is not an access token.
    WrongType,
    /// The JWT header has no `kid`.
    MissingKeyId,
    /// No key in the authorization server's JWKS has the token's `kid`, even after a refetch.
    UnknownKey,
    /// The header `alg` is `none`, an HMAC algorithm, or differs from the algorithm of the key
    /// named by `kid`.
    AlgorithmNotAllowed,
    /// The JWT header has a `crit` member; no extension is understood (RFC 7515 §4.1.11).
    UnsupportedCriticalHeader,
    /// The signature does not verify.
    BadSignature,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    WrongAudience,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// A required claim is missing or has the wrong JSON type.
    MissingClaim(&'static str),
    /// The `scope` claim does not follow RFC 6749 §3.3.
    InvalidScope,
    /// Introspection says the token is not active: unknown, expired or revoked (RFC 7662 §2.2).
    Inactive,
    /// An opaque token, but this validator has no introspection credentials.
    OpaqueNotAccepted,
    /// Introspection describes something other than a bearer access token.
    NotAnAccessToken,
    /// RFC 9449 §7.2: a DPoP-bound token (`cnf.jkt`) presented as a bearer token. The
    /// challenge is `DPoP`.
    DpopBound,
    /// RFC 9449 §7.1: a token that is not DPoP-bound presented in the `DPoP` scheme: there is
    /// no key to check the proof against. The challenge is `DPoP`.
    NotDpopBound,
}

impl InvalidToken {
    /// The public description, sent as `error_description`.
    pub const fn description(self) -> &'static str {
        match self {
            Self::Malformed => "the access token is malformed",
            Self::WrongType => "the token is not a JWT access token (typ must be at+jwt)",
            Self::MissingKeyId => "the token header has no kid",
            Self::UnknownKey => "the token is signed with an unknown key",
            Self::AlgorithmNotAllowed => "the token's signing algorithm is not allowed for its key",
            Self::UnsupportedCriticalHeader => "the token has an unsupported critical header",
            Self::BadSignature => "the token signature is invalid",
            Self::WrongIssuer => "the token was issued by another issuer",
            Self::WrongAudience => "the token is not meant for this resource server",
            Self::Expired => "the access token has expired",
            Self::NotYetValid => "the access token is not valid yet",
            Self::IssuedInFuture => "the access token is issued in the future",
            Self::MissingClaim(_) => "the access token lacks a required claim",
            Self::InvalidScope => "the access token has a malformed scope",
            Self::Inactive => "the access token is not active",
            Self::OpaqueNotAccepted => "opaque access tokens are not accepted here",
            Self::NotAnAccessToken => "the token is not an access token",
            Self::DpopBound => "the access token is DPoP-bound: use the DPoP authorization scheme with a proof",
            Self::NotDpopBound => "the access token is not DPoP-bound: use the Bearer authorization scheme",
        }
    }
}

impl fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingClaim(claim) => write!(f, "the access token lacks the {claim} claim"),
            other => f.write_str(other.description()),
        }
    }
}

/// Everything that can go wrong while authenticating a request.
///
/// | variant | status | `error` |
/// | --- | --- | --- |
/// | [`MissingToken`](Error::MissingToken) | 401 | (none: RFC 6750 §3.1) |
/// | [`InvalidRequest`](Error::InvalidRequest) | 400 | `invalid_request` |
/// | [`InvalidToken`](Error::InvalidToken) | 401 | `invalid_token` |
/// | [`InsufficientScope`](Error::InsufficientScope) | 403 | `insufficient_scope` |
/// | [`Unavailable`](Error::Unavailable) | 503 | `temporarily_unavailable` |
/// | [`Configuration`](Error::Configuration) | 500 | `server_error` |
///
/// When the authorization server is down or answers garbage, the result is
/// [`Error::Unavailable`] (503), never "invalid token": the client's token may be perfectly
/// good, and a 401 would make it throw the token away and re-authenticate for nothing. The one
/// exception is deliberate: a token whose `kid` is unknown while the JWKS refetch is
/// rate-limited is refused as [`InvalidToken::UnknownKey`] once the last fetch *succeeded*.
///
/// No message of this type ever contains the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request carries no bearer token (RFC 6750 §3.1: answer without an error code).
    #[error("no bearer access token in the request")]
    MissingToken,
    /// The request is malformed: a malformed `Authorization` header, two of them, or a token
    /// in the query string (OAuth 2.1 §5.1 forbids it). 400 `invalid_request`.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The token is invalid, expired, revoked or not meant for this resource server.
    /// 401 `invalid_token`.
    #[error("invalid token: {0}")]
    InvalidToken(InvalidToken),
    /// RFC 9449 §7.1: the DPoP proof is missing, malformed, replayed, or does not match the
    /// request, the token (`ath`) or the token's key (`cnf.jkt`). 401 `invalid_dpop_proof`
    /// with a `DPoP` challenge. The text is fixed and never contains the proof.
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(&'static str),
    /// The token is valid but lacks a scope the resource requires. 403 `insufficient_scope`.
    #[error("insufficient scope: {required} required")]
    InsufficientScope {
        /// Every scope the resource requires (sent in the `scope` attribute of the challenge).
        required: Scope,
    },
    /// The authorization server could not be reached or answered something unusable; the token
    /// may well be valid. 503 `temporarily_unavailable`; retrying later may help.
    #[error("authorization server unavailable ({endpoint}): {source}")]
    Unavailable {
        /// Which upstream document failed: `metadata`, `jwks` or `introspection`.
        endpoint: &'static str,
        /// The underlying cause (logged, never sent).
        #[source]
        source: BoxError,
    },
    /// The validator is misconfigured: a bad URL in the builder, metadata whose `issuer`
    /// differs from the configured one, introspection credentials refused by the server.
    /// 500 `server_error`; retrying does not help.
    #[error("keycard-resource configuration error: {0}")]
    Configuration(String),
}

impl Error {
    pub(crate) fn unavailable(endpoint: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Unavailable { endpoint, source: source.into() }
    }

    /// The HTTP status this error answers with (RFC 6750 §3.1).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) | Self::InvalidDpopProof(_) => StatusCode::UNAUTHORIZED,
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Configuration(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OAuth error code, or `None` when no token was sent at all (RFC 6750 §3.1 says the
    /// response then carries no error code).
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::MissingToken => None,
            Self::InvalidRequest(_) => Some(ErrorCode::InvalidRequest),
            Self::InvalidToken(_) => Some(ErrorCode::InvalidToken),
            Self::InvalidDpopProof(_) => Some(ErrorCode::InvalidDpopProof),
            Self::InsufficientScope { .. } => Some(ErrorCode::InsufficientScope),
            Self::Unavailable { .. } => Some(ErrorCode::TemporarilyUnavailable),
            Self::Configuration(_) => Some(ErrorCode::ServerError),
        }
    }

    /// The public `error_description`: fixed text, never the token, never an upstream cause.
    pub fn description(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken => None,
            Self::InvalidRequest(what) => Some(what),
            Self::InvalidToken(reason) => Some(reason.description()),
            Self::InvalidDpopProof(what) => Some(what),
            Self::InsufficientScope { .. } => Some("the access token does not grant the scope this resource requires"),
            Self::Unavailable { .. } => Some("the authorization server is unavailable"),
            Self::Configuration(_) => Some("the resource server is misconfigured"),
        }
    }

    /// The `WWW-Authenticate` challenge for this error (RFC 6750 §3), or `None` for errors that
    /// are not about the credentials (500, 503). `realm`, when given, is added first; it must
    /// not contain `"` or `\`. The DPoP errors ([`Error::InvalidDpopProof`],
    /// [`InvalidToken::DpopBound`], [`InvalidToken::NotDpopBound`]) get a `DPoP` challenge with
    /// the accepted proof algorithms (RFC 9449 §7.1); every other error a `Bearer` one.
    ///
    /// ```
    /// use keycard_resource::{Error, InvalidToken};
    /// let e = Error::InvalidToken(InvalidToken::Expired);
    /// assert_eq!(
    ///     e.www_authenticate(None).unwrap(),
    ///     r#"Bearer error="invalid_token", error_description="the access token has expired""#
    /// );
    /// assert_eq!(Error::MissingToken.www_authenticate(Some("api")).unwrap(), r#"Bearer realm="api""#);
    /// ```
    pub fn www_authenticate(&self, realm: Option<&str>) -> Option<String> {
        let mut params: Vec<String> = Vec::new();
        if let Some(realm) = realm {
            params.push(format!("realm=\"{realm}\""));
        }
        let dpop = self.is_dpop();
        if dpop {
            let algs: Vec<&str> = crate::dpop::SUPPORTED_ALGS.iter().map(|a| a.as_str()).collect();
            params.push(format!("algs=\"{}\"", algs.join(" ")));
        }
        match self {
            Self::MissingToken => {}
            Self::InvalidRequest(_) | Self::InvalidToken(_) | Self::InvalidDpopProof(_) => {
                // Both have an error code and a description here.
                let code = self.error_code().map(ErrorCode::as_str).unwrap_or_default();
                params.push(format!("error=\"{code}\""));
                if let Some(d) = self.description() {
                    params.push(format!("error_description=\"{d}\""));
                }
            }
            Self::InsufficientScope { required } => {
                params.push("error=\"insufficient_scope\"".to_owned());
                if let Some(d) = self.description() {
                    params.push(format!("error_description=\"{d}\""));
                }
                params.push(format!("scope=\"{required}\""));
            }
            Self::Unavailable { .. } | Self::Configuration(_) => return None,
        }
        let scheme = if dpop { "DPoP" } else { "Bearer" };
        if params.is_empty() { Some(scheme.to_owned()) } else { Some(format!("{scheme} {}", params.join(", "))) }
    }

    /// Is this a DPoP error (answered with a `DPoP` challenge)?
    pub fn is_dpop(&self) -> bool {
        matches!(
            self,
            Self::InvalidDpopProof(_) | Self::InvalidToken(InvalidToken::DpopBound | InvalidToken::NotDpopBound)
        )
    }
}

impl From<InvalidToken> for Error {
    fn from(reason: InvalidToken) -> Self {
        Self::InvalidToken(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6750 §3: error_description uses %x20-21 / %x23-5B / %x5D-7E only.
    fn is_rfc6750_text(s: &str) -> bool {
        s.bytes().all(|c| c == 0x20 || c == 0x21 || (0x23..=0x5B).contains(&c) || (0x5D..=0x7E).contains(&c))
    }

    #[test]
    fn descriptions_are_valid_challenge_text() {
        let reasons = [
            InvalidToken::Malformed,
            InvalidToken::WrongType,
            InvalidToken::MissingKeyId,
            InvalidToken::UnknownKey,
            InvalidToken::AlgorithmNotAllowed,
            InvalidToken::UnsupportedCriticalHeader,
            InvalidToken::BadSignature,
            InvalidToken::WrongIssuer,
            InvalidToken::WrongAudience,
            InvalidToken::Expired,
            InvalidToken::NotYetValid,
            InvalidToken::IssuedInFuture,
            InvalidToken::MissingClaim("exp"),
            InvalidToken::InvalidScope,
            InvalidToken::Inactive,
            InvalidToken::OpaqueNotAccepted,
            InvalidToken::NotAnAccessToken,
            InvalidToken::DpopBound,
            InvalidToken::NotDpopBound,
        ];
        for r in reasons {
            assert!(is_rfc6750_text(r.description()), "{r:?}");
        }
        for e in [
            Error::InvalidRequest(crate::bearer::MALFORMED_HEADER),
            Error::InvalidRequest(crate::bearer::TWO_HEADERS),
            Error::InvalidRequest(crate::bearer::TOKEN_IN_QUERY),
            Error::InsufficientScope { required: Scope::from_tokens(["a"]) },
            Error::Configuration("x".into()),
            Error::unavailable("jwks", "down"),
        ] {
            assert!(is_rfc6750_text(e.description().unwrap()), "{e:?}");
        }
    }

    #[test]
    fn statuses_and_codes() {
        assert_eq!(Error::MissingToken.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(Error::MissingToken.error_code(), None);
        assert_eq!(Error::MissingToken.www_authenticate(None).unwrap(), "Bearer");
        let e = Error::InsufficientScope { required: Scope::from_tokens(["b", "a"]) };
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            e.www_authenticate(None).unwrap(),
            "Bearer error=\"insufficient_scope\", error_description=\"the access token does not \
             grant the scope this resource requires\", scope=\"a b\""
        );
        let e = Error::unavailable("jwks", "connection refused");
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.www_authenticate(None), None);
        assert_eq!(Error::InvalidRequest("x").status(), StatusCode::BAD_REQUEST);
    }
}
