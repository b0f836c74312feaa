//! `[dpop]`: DPoP proofs (RFC 9449) at the token endpoint and UserInfo: the `iat` window (§4.3
//! item 11, §11.1) and server nonces (§8). DPoP itself is always on: a client that sends a
//! proof gets DPoP-bound tokens, and a client registered with `dpop_bound_access_tokens` must.
//! A new setting: a field here with its default, a check in [`DpopConfig::validate`], and a
//! line in `keycard.example.toml`.

use super::{ConfigError, invalid};
use serde::{Deserialize, Serialize};

/// DPoP proof checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopConfig {
    /// How old a proof's `iat` may be (seconds). It also bounds how long each proof's `jti` is
    /// remembered for replay detection (§11.1). Clients that make proofs ahead of use need room.
    pub proof_max_age_secs: i64,
    /// How far in the future a proof's `iat` may be (seconds): clock skew allowance (10 s, as the
    /// FAPI conformance suite expects, SECURITY F3).
    pub clock_leeway_secs: i64,
    /// RFC 9449 §8: require a server-provided nonce in every proof (`use_dpop_nonce` and a
    /// `DPoP-Nonce` header otherwise). Off by default. Nonces are stateless (a keyed hash of
    /// the time slot), so every node accepts every other node's.
    pub require_nonce: bool,
    /// Length of a nonce time slot (seconds); a nonce is accepted in its slot and the next.
    pub nonce_slot_secs: i64,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self { proof_max_age_secs: 60, clock_leeway_secs: 10, require_nonce: false, nonce_slot_secs: 300 }
    }
}

impl DpopConfig {
    /// Checks the `dpop.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(10..=600).contains(&self.proof_max_age_secs) {
            return invalid("dpop.proof_max_age_secs", "must be 10..600 seconds");
        }
        if !(0..=60).contains(&self.clock_leeway_secs) {
            return invalid("dpop.clock_leeway_secs", "must be 0..60 seconds");
        }
        if !(30..=3600).contains(&self.nonce_slot_secs) {
            return invalid("dpop.nonce_slot_secs", "must be 30..3600 seconds");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_each_bound_names_its_key() {
        DpopConfig::default().validate().unwrap();
        let bad = [
            ("dpop.proof_max_age_secs", DpopConfig { proof_max_age_secs: 5, ..Default::default() }),
            ("dpop.proof_max_age_secs", DpopConfig { proof_max_age_secs: 601, ..Default::default() }),
            ("dpop.clock_leeway_secs", DpopConfig { clock_leeway_secs: -1, ..Default::default() }),
            ("dpop.nonce_slot_secs", DpopConfig { nonce_slot_secs: 10, ..Default::default() }),
        ];
        for (key, c) in bad {
            assert!(c.validate().unwrap_err().0.contains(key), "{key}");
        }
    }
}
