//! `[provision]` and `provision_file`: clients, users and scopes created or updated at every
//! start-up (declarative provisioning; applied in `admin.rs`). Secrets and password hashes are
//! shown as `<redacted>` by `config dump`. A new provisioning field: add it to its struct here
//! (with `#[serde(default)]`), to the example in `keycard.example.toml`, and apply it in
//! `admin.rs`. Client fields carry their RFC 7591 §2 names; `config check` runs the same
//! registration rules as `keycard client create` (`crate::validate`), naming the key at fault.

use super::{ConfigError, Secret, invalid};
use crate::model::{ApplicationType, AuthMethod, GrantType, TokenFormat};
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
    /// RFC 7591 §2 `token_endpoint_auth_method` (also accepted under that name):
    /// `client_secret_basic` (default for confidential), `client_secret_post`, `client_secret_jwt`
    /// (needs `secret`), `private_key_jwt` (no secret; needs `jwks` or `jwks_uri`), or `none`
    /// (public).
    #[serde(default, alias = "token_endpoint_auth_method")]
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
    /// RFC 7591 §2 `application_type`: `web` or `native` (loopback redirect URIs on any port,
    /// RFC 8252 §7.3). Unset: native for a public client with a loopback or private-use-scheme
    /// redirect URI, web otherwise.
    #[serde(default)]
    pub application_type: Option<ApplicationType>,
    /// RFC 7591 §2 `jwks`: the client's public keys as a JWK Set, a TOML table
    /// `{ keys = [ { kty = "EC", crv = "P-256", x = "…", y = "…", kid = "…" } ] }`.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// RFC 7591 §2 `jwks_uri`: https (http only on loopback); never together with `jwks`.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// RFC 7591 §2 `token_endpoint_auth_signing_alg`: ES256, RS256, PS256 or EdDSA for
    /// `private_key_jwt`, HS256 for `client_secret_jwt`.
    #[serde(default)]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// RFC 9449 §5.2: the client must send a DPoP proof at /token (its tokens are key-bound).
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6: /authorize only through a pushed authorization request.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// RFC 8628 §3.2: this client's device-code lifetime, 60..3600 s (device_code grant only).
    #[serde(default)]
    pub device_code_ttl_secs: Option<i64>,
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
            let method = c.auth_method.unwrap_or(AuthMethod::ClientSecretBasic);
            let key = |field: &str| format!("provision.clients[{i}].{field}");
            if !method.uses_secret() && (c.secret.is_some() || c.secret_hash.is_some()) {
                return invalid(&key("secret"), &format!("a {} client has no secret", method.as_str()));
            }
            if method == AuthMethod::ClientSecretJwt && c.secret.is_none() {
                return invalid(
                    &key("secret"),
                    "a client_secret_jwt client needs `secret` (a secret_hash cannot be used to check its MAC)",
                );
            }
            let keys = crate::validate::KeyRegistration {
                auth_method: method,
                jwks: c.jwks.as_ref(),
                jwks_uri: c.jwks_uri.as_deref(),
                signing_alg: c.token_endpoint_auth_signing_alg.as_deref(),
            };
            if let Err((field, m)) = crate::validate::validate_key_registration(&keys) {
                return invalid(&key(field), &m);
            }
            if let Some(ttl) = c.device_code_ttl_secs
                && let Err(m) =
                    crate::validate::validate_device_code_ttl(ttl, c.grant_types.contains(&GrantType::DeviceCode))
            {
                return invalid(&key("device_code_ttl_secs"), &m);
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
