//! `[oidc]`: OpenID Connect (OpenID Connect Core 1.0) — the ID token signing algorithm (§2,
//! §3.1.3.7) and the subject identifier type (§8). A new OIDC setting: add the field and default
//! here, the key to `keycard.example.toml`, and its check to [`OidcConfig::validate`].

use super::{ConfigError, KeysConfig, invalid};
use crate::jose::Alg;
use serde::{Deserialize, Serialize};

/// Subject identifier type (OpenID Connect Core §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SubjectType {
    /// The same `sub` for every client.
    #[default]
    Public,
    /// A different `sub` per client sector (the host of its redirect URIs).
    Pairwise,
}

/// OpenID Connect.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// Default ID token signing algorithm (OpenID Connect requires RS256 support).
    pub id_token_alg: Alg,
    /// `public` or `pairwise` subject identifiers.
    pub subject_type: SubjectType,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self { id_token_alg: Alg::RS256, subject_type: SubjectType::Public }
    }
}

impl OidcConfig {
    /// Checks the `oidc.*` keys (the ID token algorithm must have a key).
    pub(super) fn validate(&self, keys: &KeysConfig) -> Result<(), ConfigError> {
        if !keys.algorithms.contains(&self.id_token_alg) {
            return invalid("oidc.id_token_alg", "must be one of keys.algorithms");
        }
        Ok(())
    }
}
