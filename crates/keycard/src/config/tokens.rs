//! What Keycard issues and how long it lives: `[keys]` (signing algorithms, rotation),
//! `[tokens]` (access, refresh and ID token lifetimes, audience; RFC 6749 §1.4–1.5, OpenID
//! Connect Core §2), `[authorization]` (codes and pending requests, RFC 6749 §4.1.2) and
//! `[sessions]` (single sign-on). A new lifetime: add the field and default to its section here,
//! the key to `keycard.example.toml`, and its bounds to that section's `validate`.

use super::{ConfigError, invalid};
use crate::jose::Alg;
use serde::{Deserialize, Serialize};

/// Signing keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Algorithm of JWT access tokens. ES256 is the fast default; RS256 costs ~20× more to sign.
    pub access_token_alg: Alg,
    /// Algorithms for which an active key is kept (created on first start).
    pub algorithms: Vec<Alg>,
    /// Extra seconds an old key stays in the JWKS after the last token it signed expired.
    pub rotation_leeway_secs: i64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            access_token_alg: Alg::ES256,
            algorithms: vec![Alg::ES256, Alg::RS256, Alg::EdDSA],
            rotation_leeway_secs: 300,
        }
    }
}

impl KeysConfig {
    /// Checks the `keys.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.algorithms.is_empty() {
            return invalid("keys.algorithms", "must list at least one algorithm");
        }
        if !self.algorithms.contains(&self.access_token_alg) {
            return invalid("keys.access_token_alg", "must be one of keys.algorithms");
        }
        Ok(())
    }
}

/// Token lifetimes and audience.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// Access token lifetime given to new clients, in seconds.
    pub access_token_ttl_secs: i64,
    /// Upper bound for any client's access token lifetime, in seconds.
    pub max_access_token_ttl_secs: i64,
    /// Default `aud` of access tokens whose client sets none. Default: the issuer.
    pub audience: Option<String>,
    /// A refresh token expires when not used for this long (seconds).
    pub refresh_token_idle_ttl_secs: i64,
    /// A refresh-token family ends this long after the user signed in, used or not (seconds).
    pub refresh_token_absolute_ttl_secs: i64,
    /// ID token lifetime in seconds.
    pub id_token_ttl_secs: i64,
    /// Absolute lifetime of refresh tokens of browser apps (public clients with web origins),
    /// which keep them in less protected storage (seconds).
    pub browser_refresh_token_absolute_ttl_secs: i64,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 3600,
            max_access_token_ttl_secs: 86_400,
            audience: None,
            refresh_token_idle_ttl_secs: 14 * 86_400,
            refresh_token_absolute_ttl_secs: 90 * 86_400,
            id_token_ttl_secs: 3600,
            browser_refresh_token_absolute_ttl_secs: 86_400,
        }
    }
}

impl TokensConfig {
    /// Checks the `tokens.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.access_token_ttl_secs < 1 || self.access_token_ttl_secs > self.max_access_token_ttl_secs {
            return invalid("tokens.access_token_ttl_secs", "must be between 1 and tokens.max_access_token_ttl_secs");
        }
        if self.refresh_token_idle_ttl_secs < 1
            || self.refresh_token_absolute_ttl_secs < self.refresh_token_idle_ttl_secs
        {
            return invalid(
                "tokens.refresh_token_idle_ttl_secs",
                "must be at least 1 and at most tokens.refresh_token_absolute_ttl_secs",
            );
        }
        if !(1..=86_400).contains(&self.id_token_ttl_secs) {
            return invalid("tokens.id_token_ttl_secs", "must be between 1 and 86400");
        }
        Ok(())
    }
}

/// The authorization endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationConfig {
    /// Lifetime of an authorization code (seconds; RFC 6749 recommends at most 600).
    pub code_ttl_secs: i64,
    /// How long a user has to sign in and consent before the request expires (seconds).
    pub request_ttl_secs: i64,
    /// Refuse (`invalid_request`) an authorization request whose `code_challenge` or `nonce`
    /// the same client already sent more than 3 times in 10 minutes; off: only a warning is
    /// logged (RFC 9700 §2.1.1, SECURITY B9).
    pub reject_constant_challenges: bool,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self { code_ttl_secs: 60, request_ttl_secs: 1800, reject_constant_challenges: false }
    }
}

impl AuthorizationConfig {
    /// Checks the `authorization.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=600).contains(&self.code_ttl_secs) {
            return invalid("authorization.code_ttl_secs", "must be between 1 and 600");
        }
        if self.request_ttl_secs < 60 {
            return invalid("authorization.request_ttl_secs", "must be at least 60");
        }
        Ok(())
    }
}

/// Single sign-on sessions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session ends when unused for this long (seconds).
    pub idle_ttl_secs: i64,
    /// A session ends this long after sign-in, used or not (seconds).
    pub absolute_ttl_secs: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { idle_ttl_secs: 8 * 3600, absolute_ttl_secs: 7 * 86_400 }
    }
}

impl SessionConfig {
    /// Checks the `sessions.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.idle_ttl_secs < 60 || self.absolute_ttl_secs < self.idle_ttl_secs {
            return invalid("sessions.idle_ttl_secs", "must be at least 60 and at most sessions.absolute_ttl_secs");
        }
        Ok(())
    }
}
