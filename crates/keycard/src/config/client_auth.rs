//! `[client_auth]`: JWT client authentication (RFC 7523 §2.2 and §3, OIDC Core §9:
//! `private_key_jwt`, `client_secret_jwt`) — the clock leeway and lifetime bound of client
//! assertions, and the limits of the `jwks_uri` fetcher (`client_keys.rs`). A new setting: add
//! the field and default here, the key to `keycard.example.toml`, and its check to
//! [`ClientAuthConfig::validate`].

use super::{ConfigError, invalid};
use serde::{Deserialize, Serialize};

/// JWT client authentication and the `jwks_uri` fetcher.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClientAuthConfig {
    /// Clock skew tolerated (seconds) on a client assertion's `exp`, `nbf` and `iat`; the `jti`
    /// is remembered until `exp` plus this leeway.
    pub clock_leeway_secs: i64,
    /// How far in the future (seconds) a client assertion's `exp` may be: a longer-lived
    /// assertion is refused (RFC 7523 §3 lets the server limit it; issue 9 asks for 5 minutes).
    pub assertion_max_lifetime_secs: i64,
    /// Connect and total timeout (milliseconds) of one `jwks_uri` fetch.
    pub jwks_fetch_timeout_ms: u64,
    /// Largest `jwks_uri` response body read (bytes); a longer one is refused while reading.
    pub jwks_max_bytes: usize,
    /// How long (seconds) a fetched JWK Set is used before it is fetched again.
    pub jwks_cache_secs: i64,
    /// Least time (seconds) between two fetches of one client's `jwks_uri` caused by a JWS
    /// naming an unknown `kid` (or by a failed fetch), so forged `kid`s cannot make Keycard a
    /// fetch loop. 0 refetches at every unknown `kid` (for tests).
    pub jwks_refetch_interval_secs: i64,
}

impl Default for ClientAuthConfig {
    fn default() -> Self {
        Self {
            clock_leeway_secs: 30,
            assertion_max_lifetime_secs: 300,
            jwks_fetch_timeout_ms: 3000,
            jwks_max_bytes: 64 * 1024,
            jwks_cache_secs: 300,
            jwks_refetch_interval_secs: 10,
        }
    }
}

impl ClientAuthConfig {
    /// Checks the `client_auth.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(0..=300).contains(&self.clock_leeway_secs) {
            return invalid("client_auth.clock_leeway_secs", "must be between 0 and 300 seconds");
        }
        if !(1..=3600).contains(&self.assertion_max_lifetime_secs) {
            return invalid("client_auth.assertion_max_lifetime_secs", "must be between 1 and 3600 seconds");
        }
        if !(100..=30_000).contains(&self.jwks_fetch_timeout_ms) {
            return invalid("client_auth.jwks_fetch_timeout_ms", "must be between 100 and 30000 milliseconds");
        }
        if !(1024..=1024 * 1024).contains(&self.jwks_max_bytes) {
            return invalid("client_auth.jwks_max_bytes", "must be between 1024 and 1048576 bytes");
        }
        if !(0..=86_400).contains(&self.jwks_cache_secs) {
            return invalid("client_auth.jwks_cache_secs", "must be between 0 and 86400 seconds");
        }
        if !(0..=3600).contains(&self.jwks_refetch_interval_secs) {
            return invalid("client_auth.jwks_refetch_interval_secs", "must be between 0 and 3600 seconds");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        ClientAuthConfig::default().validate().unwrap();
        let c = ClientAuthConfig { assertion_max_lifetime_secs: 0, ..Default::default() };
        assert!(c.validate().unwrap_err().0.contains("client_auth.assertion_max_lifetime_secs"));
        let c = ClientAuthConfig { jwks_max_bytes: 10, ..Default::default() };
        assert!(c.validate().unwrap_err().0.contains("client_auth.jwks_max_bytes"));
    }
}
