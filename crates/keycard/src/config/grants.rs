//! Optional grants: `[device]` (the device authorization grant, RFC 8628) and `[legacy]`
//! (implicit and password grants, RFC 6749 §4.2/§4.3, off by default). A new grant's settings
//! get their own section struct here, a field in [`super::Config`], and a `validate`.

use super::{ConfigError, invalid};
use serde::{Deserialize, Serialize};

/// The device authorization grant (RFC 8628).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// Lifetime of a device code and its user code (seconds).
    pub code_ttl_secs: i64,
    /// Minimum seconds between polls (RFC 8628 `interval`).
    pub poll_interval_secs: i64,
    /// Typed user codes per browser per minute before the verification page refuses (RFC 8628 §5.1).
    pub max_code_attempts_per_browser: i64,
    /// Typed user codes per client IP per minute.
    pub max_code_attempts_per_ip: i64,
    /// `/device_authorization` requests per (client, client IP) per minute; more are answered
    /// 429 `slow_down` with `Retry-After`.
    pub max_authorizations_per_client_ip: i64,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            code_ttl_secs: 600,
            poll_interval_secs: 5,
            max_code_attempts_per_browser: 5,
            max_code_attempts_per_ip: 30,
            max_authorizations_per_client_ip: 20,
        }
    }
}

impl DeviceConfig {
    /// Checks the `device.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(60..=3600).contains(&self.code_ttl_secs) || !(1..=60).contains(&self.poll_interval_secs) {
            return invalid("device.code_ttl_secs", "code_ttl_secs must be 60..3600 and poll_interval_secs 1..60");
        }
        if self.max_code_attempts_per_browser < 1
            || self.max_code_attempts_per_ip < 1
            || self.max_authorizations_per_client_ip < 1
        {
            return invalid("device.max_code_attempts_per_browser", "must be at least 1");
        }
        Ok(())
    }
}

/// Legacy grants (RFC 6749 §4.2 implicit, §4.3 resource owner password credentials): omitted
/// from OAuth 2.1 and discouraged by RFC 9700, built for older integrations, OFF by default. Each
/// works only when switched on here AND granted to the client.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LegacyConfig {
    /// Allow `response_type=token`, `id_token` and `id_token token` for clients with the
    /// `implicit` grant.
    pub implicit_grant: bool,
    /// Allow `grant_type=password` for clients with the `password` grant.
    pub password_grant: bool,
    /// Lifetime of implicit access tokens (seconds; short, they travel in the front channel).
    #[serde(default = "default_implicit_ttl")]
    pub implicit_access_token_ttl_secs: i64,
}

fn default_implicit_ttl() -> i64 {
    300
}

impl LegacyConfig {
    /// Checks the `legacy.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=3600).contains(&self.implicit_access_token_ttl_secs) {
            return invalid("legacy.implicit_access_token_ttl_secs", "must be between 1 and 3600");
        }
        Ok(())
    }
}
