//! Configuration: defaults → a TOML file (`--config`, else `keycard.toml` when present) →
//! `KEYCARD_*` environment variables, `__` separating nested keys
//! (`KEYCARD_DATABASE__URL`, `KEYCARD_HTTP__LISTEN`, `KEYCARD_SECRET`).
//!
//! Every field is documented; `keycard.example.toml` at the repository root lists them all and
//! a test checks that it parses and names every key. Unknown keys are errors that name the key.
//! Adding a key: add the field with a doc comment and a default, add it to
//! `keycard.example.toml`, check it in its section's `validate` (cross-section checks live in
//! [`Config::validate`]).
//!
//! One file per group of sections: `http`, `database`, `tokens` (keys, tokens,
//! authorization, sessions), `login`, `oidc`, `grants` (device, legacy), `client_auth`, `ops` (cleanup, cache,
//! log), `ui`, `mail`, `provision`; `load` reads and merges the sources. Every type is re-exported here,
//! so `crate::config::X` is the one path to use.

mod client_auth;
mod database;
mod dpop;
mod grants;
mod http;
mod load;
mod login;
mod mail;
mod oidc;
mod ops;
mod par;
mod provision;
#[cfg(test)]
mod tests;
mod tokens;
mod ui;

pub use client_auth::ClientAuthConfig;
pub use database::{DatabaseConfig, SqliteSynchronous, redact_url};
pub use dpop::DpopConfig;
pub use grants::{DeviceConfig, LegacyConfig};
pub use http::{HttpConfig, MAX_HEADER_BYTES, MIN_HEADER_BYTES};
pub use login::LoginConfig;
pub use mail::{MailConfig, MailSender, SmtpConfig, SmtpTls};
pub use oidc::{OidcConfig, SubjectType};
pub use ops::{CacheConfig, CleanupConfig, LogConfig, LogFormat};
pub use par::ParConfig;
pub use provision::{Provision, ProvisionClient, ProvisionScope, ProvisionUser};
pub use tokens::{AuthorizationConfig, KeysConfig, SessionConfig, TokensConfig};
pub use ui::UiConfig;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "keycard.toml";

/// A secret value from the config: redacted in `Debug` and in `config dump`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The issuer identifier (RFC 8414 §2): an https URL (http only on loopback for development,
    /// or anywhere with `insecure_http`), no query or fragment. Every endpoint URL derives from
    /// it; request headers never change it.
    pub issuer: String,
    /// Development switch: allow a plain-http issuer on a non-loopback host (OAuth 2.1 §1.5
    /// requires TLS; tokens, codes and passwords then travel unencrypted, and the session
    /// cookies lose `Secure` and the `__Host-` prefix). Off by default: such an issuer is a
    /// configuration error. `http://127.0.0.1`, `http://[::1]` and `http://localhost` need no switch.
    pub insecure_http: bool,
    /// Directory for the SQLite database and the generated server secret.
    pub data_dir: PathBuf,
    /// The server secret from which the key-encryption and token-hashing keys are derived (at
    /// least 32 characters). When neither this nor `secret_file` is set, one is generated in
    /// `data_dir/secret` on first start. Back it up: without it the signing keys and client
    /// secrets in the database are useless.
    pub secret: Option<Secret>,
    /// A file holding the server secret (alternative to `secret`).
    pub secret_file: Option<PathBuf>,
    /// HTTP listener settings.
    pub http: HttpConfig,
    /// Database settings.
    pub database: DatabaseConfig,
    /// Signing keys.
    pub keys: KeysConfig,
    /// Token lifetimes and audience.
    pub tokens: TokensConfig,
    /// In-memory caches.
    pub cache: CacheConfig,
    /// Logging.
    pub log: LogConfig,
    /// Look of the HTML pages (login, consent, errors).
    pub ui: UiConfig,
    /// The authorization endpoint.
    pub authorization: AuthorizationConfig,
    /// Single sign-on sessions.
    pub sessions: SessionConfig,
    /// Password sign-in: hashing and throttling.
    pub login: LoginConfig,
    /// OpenID Connect.
    pub oidc: OidcConfig,
    /// Background removal of expired rows.
    pub cleanup: CleanupConfig,
    /// The device authorization grant (RFC 8628).
    pub device: DeviceConfig,
    /// Legacy grants, off by default.
    pub legacy: LegacyConfig,
    /// JWT client authentication (private_key_jwt, client_secret_jwt) and the jwks_uri fetcher.
    pub client_auth: ClientAuthConfig,
    /// Pushed authorization requests (RFC 9126) and request objects (RFC 9101).
    pub par: ParConfig,
    /// DPoP proofs (RFC 9449).
    pub dpop: DpopConfig,
    /// Account mails: e-mail verification, password reset, invitations.
    pub mail: MailConfig,
    /// Clients, users and scopes created or updated at start-up.
    pub provision: Provision,
    /// A separate TOML file with a `[provision]`-shaped document (`clients`, `users`, `scopes`),
    /// merged after the inline `provision` lists.
    pub provision_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            insecure_http: false,
            data_dir: PathBuf::from("data"),
            secret: None,
            secret_file: None,
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            keys: KeysConfig::default(),
            tokens: TokensConfig::default(),
            cache: CacheConfig::default(),
            log: LogConfig::default(),
            ui: UiConfig::default(),
            authorization: AuthorizationConfig::default(),
            sessions: SessionConfig::default(),
            login: LoginConfig::default(),
            oidc: OidcConfig::default(),
            cleanup: CleanupConfig::default(),
            device: DeviceConfig::default(),
            legacy: LegacyConfig { implicit_access_token_ttl_secs: 300, ..Default::default() },
            client_auth: ClientAuthConfig::default(),
            par: ParConfig::default(),
            dpop: DpopConfig::default(),
            mail: MailConfig::default(),
            provision: Provision::default(),
            provision_file: None,
        }
    }
}

/// A configuration error: one line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The error for key `key`: one line that names it.
fn invalid(key: &str, message: &str) -> Result<(), ConfigError> {
    Err(ConfigError(format!("invalid value for key `{key}`: {message}")))
}

impl Config {
    /// Checks values that types alone cannot: the top-level keys here, each section in its own
    /// `validate`, and the checks that span sections (given the other section).
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_issuer()?;
        if let Some(s) = &self.secret
            && s.0.len() < 32
        {
            return invalid("secret", "must be at least 32 characters");
        }
        self.database.validate()?;
        self.http.validate()?;
        self.keys.validate()?;
        self.tokens.validate()?;
        self.authorization.validate()?;
        self.sessions.validate()?;
        self.login.validate()?;
        self.oidc.validate(&self.keys)?;
        self.cleanup.validate(&self.login)?;
        self.device.validate()?;
        self.legacy.validate()?;
        self.client_auth.validate()?;
        self.par.validate()?;
        self.dpop.validate()?;
        self.mail.validate()?;
        self.cache.validate()?;
        self.log.validate()?;
        self.ui.validate()?;
        self.provision.validate()
    }

    /// Checks the top-level `issuer` (RFC 8414 §2).
    fn validate_issuer(&self) -> Result<(), ConfigError> {
        let issuer = match url::Url::parse(&self.issuer) {
            Ok(u) => u,
            Err(e) => return invalid("issuer", &format!("not an absolute URL ({e})")),
        };
        if !matches!(issuer.scheme(), "https" | "http") {
            return invalid("issuer", "must be an https URL (http only for loopback development)");
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return invalid("issuer", "must not have a query or fragment (RFC 8414 section 2)");
        }
        if self.issuer.ends_with('/') {
            return invalid("issuer", "must not end with a slash (it is compared byte for byte)");
        }
        if self.insecure_issuer() && !self.insecure_http {
            return invalid(
                "issuer",
                "must be an https URL: plain http is allowed on loopback (127.0.0.1, [::1], localhost) only, \
                 or anywhere with `insecure_http = true` (development: cookies lose Secure and __Host-)",
            );
        }
        Ok(())
    }

    /// The effective database URL.
    pub fn database_url(&self) -> String {
        self.database.url.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("keycard.db").display()))
    }

    /// Is the issuer an `http://` URL on a non-loopback host? Only valid with `insecure_http`
    /// (start-up then warns loudly).
    pub fn insecure_issuer(&self) -> bool {
        let Ok(u) = url::Url::parse(&self.issuer) else {
            return false;
        };
        u.scheme() == "http"
            && !matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            && !matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            && u.host_str() != Some("localhost")
    }

    /// The default access-token audience.
    pub fn default_audience(&self) -> &str {
        self.tokens.audience.as_deref().unwrap_or(&self.issuer)
    }
}
