//! `[provision]` and `provision_file`: clients, users and scopes created or updated at every
//! start-up (declarative provisioning; applied in `admin.rs`). Secrets and password hashes are
//! shown as `<redacted>` by `config dump`. A new provisioning field: add it to its struct here
//! (with `#[serde(default)]`), to the example in `keycard.example.toml`, and apply it in
//! `admin.rs`.

use super::{ConfigError, Secret, invalid};
use crate::model::{AuthMethod, GrantType, TokenFormat};
use serde::{Deserialize, Serialize};

/// Declarative provisioning.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Provision {
    /// Scopes to create or update.
    pub scopes: Vec<ProvisionScope>,
    /// Clients to create or update.
    pub clients: Vec<ProvisionClient>,
    /// Users to create or update.
    pub users: Vec<ProvisionUser>,
}

/// A scope in the provisioning file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionScope {
    /// The scope token.
    pub name: String,
    /// Shown on the consent page.
    #[serde(default)]
    pub description: String,
}

/// A client in the provisioning file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionClient {
    /// Client id: printable ASCII, chosen freely (e.g. `svc:billing`).
    pub id: String,
    /// Display name (default: the id).
    #[serde(default)]
    pub name: Option<String>,
    /// The secret's keyed hash as printed by `keycard client show --json` of another
    /// deployment with the same server secret, or by `keycard client hash-secret`.
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// The secret in plain text: for development and tests only (logged as a warning).
    #[serde(default)]
    pub secret: Option<Secret>,
    /// `client_secret_basic` (default for confidential), `client_secret_post`, or `none` (public).
    #[serde(default)]
    pub auth_method: Option<AuthMethod>,
    /// Allowed grant types.
    #[serde(default)]
    pub grant_types: Vec<GrantType>,
    /// Allowed scopes (created when missing).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Access token lifetime in seconds (default `tokens.access_token_ttl_secs`).
    #[serde(default)]
    pub access_token_ttl_secs: Option<i64>,
    /// `jwt` (default) or `opaque`.
    #[serde(default)]
    pub token_format: Option<TokenFormat>,
    /// Audience of this client's access tokens.
    #[serde(default)]
    pub audience: Option<String>,
    /// Browser origins allowed for CORS (single-page apps), e.g. `https://app.example.com`.
    #[serde(default)]
    pub web_origins: Vec<String>,
    /// Disabled clients cannot authenticate.
    #[serde(default)]
    pub disabled: bool,
    /// The resource-server role: the audiences (`aud` of access tokens, e.g. the API's URL)
    /// this client serves; it may introspect tokens for them (RFC 7662 §4). Needs no grant type.
    #[serde(default)]
    pub resource_audiences: Vec<String>,
}

/// A user in the provisioning file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionUser {
    /// Login name.
    pub username: String,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// argon2id PHC string (shown as `<redacted>` by `config dump`: a hash can be attacked offline).
    #[serde(default, serialize_with = "serialize_redacted")]
    pub password_hash: Option<String>,
    /// Plain password: for development and tests only (hashed at start-up, logged as a warning).
    #[serde(default)]
    pub password: Option<Secret>,
    /// Disabled users cannot sign in.
    #[serde(default)]
    pub disabled: bool,
}

fn serialize_redacted<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    v.as_ref().map(|_| "<redacted>").serialize(s)
}

impl Provision {
    /// Checks every provisioned client and user (errors name the list entry).
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (i, c) in self.clients.iter().enumerate() {
            if let Err(m) = crate::validate::validate_client_id(&c.id) {
                return invalid(&format!("provision.clients[{i}].id"), &m);
            }
            if c.secret.is_some() && c.secret_hash.is_some() {
                return invalid(&format!("provision.clients[{i}]"), "set secret or secret_hash, not both");
            }
        }
        for (i, u) in self.users.iter().enumerate() {
            if u.password.is_some() && u.password_hash.is_some() {
                return invalid(&format!("provision.users[{i}]"), "set password or password_hash, not both");
            }
        }
        Ok(())
    }
}
