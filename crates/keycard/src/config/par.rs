//! `[par]`: pushed authorization requests (RFC 9126) and signed request objects (RFC 9101).
//! Both are on (they weaken nothing: a client that uses neither is unaffected); `require`
//! makes pushing mandatory for every client (RFC 9126 §5 `require_pushed_authorization_requests`).
//! A new key gets a field here with its default, a check in [`ParConfig::validate`] and a line
//! in keycard.example.toml.

use super::{ConfigError, invalid};
use serde::{Deserialize, Serialize};

/// Pushed authorization requests and request objects.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParConfig {
    /// RFC 9126 §5: every client must push its authorization requests (a plain `/authorize`
    /// request is refused). Per client: `require_pushed_authorization_requests`.
    pub require: bool,
    /// RFC 9126 §2.2: lifetime of a `request_uri` (seconds, 5..=600; FAPI 2.0 allows no more).
    pub request_uri_ttl_secs: i64,
    /// RFC 9101 §6.1: clock leeway for a request object's `exp`, `nbf` and `iat` (seconds, 0..=300).
    pub request_object_leeway_secs: i64,
    /// The longest accepted request-object lifetime: `exp` at most this far ahead (seconds,
    /// 1..=3600). Bounds how long a `jti` is remembered.
    pub request_object_max_lifetime_secs: i64,
}

impl Default for ParConfig {
    fn default() -> Self {
        Self {
            require: false,
            request_uri_ttl_secs: 60,
            request_object_leeway_secs: 30,
            request_object_max_lifetime_secs: 3600,
        }
    }
}

impl ParConfig {
    /// Checks the `par.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(5..=600).contains(&self.request_uri_ttl_secs) {
            return invalid("par.request_uri_ttl_secs", "must be between 5 and 600");
        }
        if !(0..=300).contains(&self.request_object_leeway_secs) {
            return invalid("par.request_object_leeway_secs", "must be between 0 and 300");
        }
        if !(1..=3600).contains(&self.request_object_max_lifetime_secs) {
            return invalid("par.request_object_max_lifetime_secs", "must be between 1 and 3600");
        }
        Ok(())
    }
}
