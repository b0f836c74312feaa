//! RFC 9068 §2.2 claims of a JWT access token.

use serde::{Deserialize, Serialize};

/// The media type in the `typ` header of a JWT access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_JWT_TYP: &str = "at+jwt";

/// Claims of a Keycard JWT access token (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer: the authorization server's issuer identifier.
    pub iss: String,
    /// Subject: the user, or for client credentials the client (prefixed so it can never equal a
    /// user's subject, RFC 9700 §4.15.1).
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// Not before; equal to `iat` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id, the key of the revocation list.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scope, space separated (omitted when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Time of the user's authentication, for tokens issued on behalf of a user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Keycard's grant id (private claim): the authorization this token descends from, so
    /// introspection can report it inactive once the grant is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// RFC 9449 §6.1 (RFC 7800 §3.1): the key a DPoP-bound token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// RFC 7800 §3.1 confirmation claim, with the RFC 9449 §6.1 member `jkt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the DPoP public key.
    pub jkt: String,
}
