//! Configuration: defaults → a TOML file (`--config`, else `keycard.toml` when present) →
//! `KEYCARD_*` environment variables, `__` separating nested keys
//! (`KEYCARD_DATABASE__URL`, `KEYCARD_HTTP__LISTEN`, `KEYCARD_SECRET`).
//!
//! Every field is documented; `keycard.example.toml` at the repository root lists them all and
//! a test checks that it parses and names every key. Unknown keys are errors that name the key.
//! Adding a key: add the field with a doc comment and a default, add it to
//! `keycard.example.toml`, validate it in [`Config::validate`].

use crate::jose::Alg;
use crate::model::{AuthMethod, GrantType, TokenFormat};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    /// Clients, users and scopes created or updated at start-up.
    pub provision: Provision,
    /// A separate TOML file with a `[provision]`-shaped document (`clients`, `users`, `scopes`),
    /// merged after the inline `provision` lists.
    pub provision_file: Option<PathBuf>,
}

/// HTTP listener settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest accepted request body in bytes (larger → 413).
    pub body_limit_bytes: usize,
    /// Time allowed for a whole request, in seconds (longer → 408).
    pub request_timeout_secs: u64,
    /// Time allowed to receive the request headers, in seconds (slowloris defence).
    pub header_read_timeout_secs: u64,
    /// Most concurrent connections; further ones wait in the accept queue.
    pub max_connections: usize,
    /// Seconds to let in-flight requests finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// Reverse proxies (IP addresses or CIDR blocks) whose `X-Forwarded-For` is believed; from
    /// any other peer the header is ignored. Empty by default.
    pub trusted_proxies: Vec<String>,
}

/// Database settings. `Debug` and `Serialize` (`config dump`) show the URL with its password
/// replaced by `***`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/to/file.db` or `postgres://user@host:port/db`. Default:
    /// `sqlite://<data_dir>/keycard.db`.
    #[serde(serialize_with = "serialize_redacted_url")]
    pub url: Option<String>,
    /// Connection pool size.
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection.
    pub acquire_timeout_secs: u64,
    /// At start-up, keep retrying an unreachable database for this many seconds, then exit.
    pub startup_retry_secs: u64,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .field("startup_retry_secs", &self.startup_retry_secs)
            .finish()
    }
}

fn serialize_redacted_url<S: serde::Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    url.as_deref().map(redact_url).serialize(s)
}

fn serialize_redacted<S: serde::Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    v.as_ref().map(|_| "<redacted>").serialize(s)
}

/// A database URL with any password replaced by `***`, for messages and `config dump`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

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

/// The authorization endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthorizationConfig {
    /// Lifetime of an authorization code (seconds; RFC 6749 recommends at most 600).
    pub code_ttl_secs: i64,
    /// How long a user has to sign in and consent before the request expires (seconds).
    pub request_ttl_secs: i64,
}

impl Default for AuthorizationConfig {
    fn default() -> Self {
        Self { code_ttl_secs: 60, request_ttl_secs: 1800 }
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

/// Password sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Attempts per account within `window_secs` before it is locked.
    pub max_attempts: i64,
    /// Attempts per client IP within `window_secs` before the IP is locked (credential stuffing).
    pub ip_max_attempts: i64,
    /// Wrong client secrets per client and IP within `window_secs` before that pair is locked
    /// (SECURITY D2); the lock follows `lockout_secs`.
    pub client_max_failures: i64,
    /// The counting window (seconds).
    pub window_secs: i64,
    /// First lock duration (seconds); it doubles with every further attempt while locked, up to an hour.
    pub lockout_secs: i64,
    /// Password hashes computed at once; further sign-ins queue (so a login storm cannot starve the token endpoint).
    pub max_concurrent_hashes: usize,
    /// argon2id memory cost in KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// argon2id iterations (OWASP: 2).
    pub argon2_iterations: u32,
    /// argon2id parallelism (OWASP: 1).
    pub argon2_parallelism: u32,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            ip_max_attempts: 100,
            client_max_failures: 10,
            window_secs: 900,
            lockout_secs: 60,
            max_concurrent_hashes: 2,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
        }
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
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            code_ttl_secs: 600,
            poll_interval_secs: 5,
            max_code_attempts_per_browser: 5,
            max_code_attempts_per_ip: 30,
        }
    }
}

/// Background removal of expired rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CleanupConfig {
    /// How often each node purges (seconds). Several nodes may purge at once safely.
    pub interval_secs: u64,
    /// Expired or revoked rows (codes, sessions, pending requests, refresh families, throttle
    /// entries) are kept this long after they end, then deleted (seconds). Keeping spent codes a
    /// while lets a late replay still revoke what they issued.
    pub retention_secs: i64,
    /// Rows deleted per statement, so a backlog never holds a long lock.
    pub batch_size: i64,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        Self { interval_secs: 60, retention_secs: 3600, batch_size: 1000 }
    }
}

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

/// In-memory caches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// How often (milliseconds) a node checks the database for client and key changes made by
    /// other nodes or the CLI. Bounds how stale a cache can be.
    pub poll_interval_ms: u64,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `keycard=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
}

/// Look of the HTML pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// Product name shown in page titles and headers.
    pub product_name: String,
    /// Logo shown above every page: an https URL (or a path on this server).
    pub logo_uri: Option<String>,
    /// Accent colour of buttons and links, `#rrggbb`.
    pub primary_color: String,
    /// Page background colour, `#rrggbb`.
    pub background_color: String,
    /// A directory of templates overriding the built-in ones by file name (`login.html`, ...).
    pub template_dir: Option<PathBuf>,
}

impl Default for UiConfig {
    fn default() -> Self {
        Self {
            product_name: "Keycard".into(),
            logo_uri: None,
            primary_color: "#1f5fbf".into(),
            background_color: "#f4f5f7".into(),
            template_dir: None,
        }
    }
}

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
            provision: Provision::default(),
            provision_file: None,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit_bytes: 64 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            max_connections: 10_000,
            shutdown_grace_secs: 10,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: None, max_connections: 16, acquire_timeout_secs: 5, startup_retry_secs: 10 }
    }
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

impl Default for CacheConfig {
    fn default() -> Self {
        Self { poll_interval_ms: 1000 }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".into() }
    }
}

/// A configuration error: one line naming the key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The top-level keys, for the environment filter.
const TOP_LEVEL_KEYS: &[&str] = &[
    "issuer",
    "insecure_http",
    "data_dir",
    "secret",
    "secret_file",
    "http",
    "database",
    "keys",
    "tokens",
    "cache",
    "log",
    "ui",
    "authorization",
    "sessions",
    "login",
    "oidc",
    "cleanup",
    "device",
    "legacy",
    "provision_file",
];

impl Config {
    /// Loads the configuration: defaults, then `file` (or `keycard.toml` when present), then the
    /// environment; then validates it.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(f) => {
                if !f.exists() {
                    return Err(ConfigError(format!("config file {} does not exist", f.display())));
                }
                fig = fig.merge(Toml::file_exact(f));
            }
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                fig = fig.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        // Only variables that name a config key: KEYCARD_CONFIG and the test harness's
        // KEYCARD_TEST_* share the prefix but are not config keys.
        fig = fig.merge(Env::prefixed("KEYCARD_").split("__").filter(|k| {
            let top = k.as_str().split('.').next().unwrap_or("");
            TOP_LEVEL_KEYS.iter().any(|t| t.eq_ignore_ascii_case(top))
        }));
        let mut config: Config = fig.extract().map_err(|e| ConfigError(figment_error(e)))?;
        if let Some(pf) = config.provision_file.clone() {
            let path = match file.and_then(Path::parent) {
                Some(dir) if pf.is_relative() => dir.join(&pf),
                _ => pf,
            };
            let extra: Provision = Figment::from(Toml::file_exact(&path))
                .extract()
                .map_err(|e| ConfigError(format!("provision_file {}: {}", path.display(), figment_error(e))))?;
            config.provision.scopes.extend(extra.scopes);
            config.provision.clients.extend(extra.clients);
            config.provision.users.extend(extra.users);
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks values that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |k: &str, m: &str| Err(ConfigError(format!("invalid value for key `{k}`: {m}")));
        let issuer = match url::Url::parse(&self.issuer) {
            Ok(u) => u,
            Err(e) => return err("issuer", &format!("not an absolute URL ({e})")),
        };
        if !matches!(issuer.scheme(), "https" | "http") {
            return err("issuer", "must be an https URL (http only for loopback development)");
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return err("issuer", "must not have a query or fragment (RFC 8414 section 2)");
        }
        if self.issuer.ends_with('/') {
            return err("issuer", "must not end with a slash (it is compared byte for byte)");
        }
        if self.insecure_issuer() && !self.insecure_http {
            return err(
                "issuer",
                "must be an https URL: plain http is allowed on loopback (127.0.0.1, [::1], localhost) only, \
                 or anywhere with `insecure_http = true` (development: cookies lose Secure and __Host-)",
            );
        }
        if let Some(s) = &self.secret
            && s.0.len() < 32
        {
            return err("secret", "must be at least 32 characters");
        }
        if let Some(url) = &self.database.url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return err("database.url", "must start with sqlite:// or postgres://");
        }
        if self.database.max_connections == 0 {
            return err("database.max_connections", "must be at least 1");
        }
        for p in &self.http.trusted_proxies {
            if let Err(e) = p.parse::<crate::net::Cidr>() {
                return err("http.trusted_proxies", &e);
            }
        }
        if self.http.body_limit_bytes < 1024 {
            return err("http.body_limit_bytes", "must be at least 1024");
        }
        if self.http.request_timeout_secs == 0 || self.http.header_read_timeout_secs == 0 {
            return err("http.request_timeout_secs", "timeouts must be at least 1 second");
        }
        if self.keys.algorithms.is_empty() {
            return err("keys.algorithms", "must list at least one algorithm");
        }
        if !self.keys.algorithms.contains(&self.keys.access_token_alg) {
            return err("keys.access_token_alg", "must be one of keys.algorithms");
        }
        if self.tokens.access_token_ttl_secs < 1
            || self.tokens.access_token_ttl_secs > self.tokens.max_access_token_ttl_secs
        {
            return err("tokens.access_token_ttl_secs", "must be between 1 and tokens.max_access_token_ttl_secs");
        }
        if !(1..=600).contains(&self.authorization.code_ttl_secs) {
            return err("authorization.code_ttl_secs", "must be between 1 and 600");
        }
        if self.authorization.request_ttl_secs < 60 {
            return err("authorization.request_ttl_secs", "must be at least 60");
        }
        if self.sessions.idle_ttl_secs < 60 || self.sessions.absolute_ttl_secs < self.sessions.idle_ttl_secs {
            return err("sessions.idle_ttl_secs", "must be at least 60 and at most sessions.absolute_ttl_secs");
        }
        if self.tokens.refresh_token_idle_ttl_secs < 1
            || self.tokens.refresh_token_absolute_ttl_secs < self.tokens.refresh_token_idle_ttl_secs
        {
            return err(
                "tokens.refresh_token_idle_ttl_secs",
                "must be at least 1 and at most tokens.refresh_token_absolute_ttl_secs",
            );
        }
        if !(1..=86_400).contains(&self.tokens.id_token_ttl_secs) {
            return err("tokens.id_token_ttl_secs", "must be between 1 and 86400");
        }
        if self.login.max_attempts < 1 || self.login.ip_max_attempts < self.login.max_attempts {
            return err("login.max_attempts", "must be at least 1 and at most login.ip_max_attempts");
        }
        if self.login.client_max_failures < 1 {
            return err("login.client_max_failures", "must be at least 1");
        }
        if self.login.window_secs < 1 || self.login.lockout_secs < 1 {
            return err("login.window_secs", "windows and lockouts must be at least 1 second");
        }
        if self.login.max_concurrent_hashes == 0 {
            return err("login.max_concurrent_hashes", "must be at least 1");
        }
        if argon2::Params::new(
            self.login.argon2_memory_kib,
            self.login.argon2_iterations,
            self.login.argon2_parallelism,
            None,
        )
        .is_err()
        {
            return err("login.argon2_memory_kib", "these argon2 parameters are not valid");
        }
        if !self.keys.algorithms.contains(&self.oidc.id_token_alg) {
            return err("oidc.id_token_alg", "must be one of keys.algorithms");
        }
        if self.cleanup.interval_secs == 0
            || self.cleanup.retention_secs < 0
            || !(1..=100_000).contains(&self.cleanup.batch_size)
        {
            return err("cleanup.interval_secs", "interval must be ≥ 1 s, retention ≥ 0 s, batch_size 1..100000");
        }
        if self.cleanup.retention_secs < self.login.window_secs {
            // Purging a throttle row before its window ends would reset the sign-in counters.
            return err("cleanup.retention_secs", "must be at least login.window_secs (throttle rows are purged)");
        }
        if !(60..=3600).contains(&self.device.code_ttl_secs) || !(1..=60).contains(&self.device.poll_interval_secs) {
            return err("device.code_ttl_secs", "code_ttl_secs must be 60..3600 and poll_interval_secs 1..60");
        }
        if self.device.max_code_attempts_per_browser < 1 || self.device.max_code_attempts_per_ip < 1 {
            return err("device.max_code_attempts_per_browser", "must be at least 1");
        }
        if !(1..=3600).contains(&self.legacy.implicit_access_token_ttl_secs) {
            return err("legacy.implicit_access_token_ttl_secs", "must be between 1 and 3600");
        }
        if self.cache.poll_interval_ms < 50 {
            return err("cache.poll_interval_ms", "must be at least 50");
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return err("log.level", &e.to_string());
        }
        for (key, color) in
            [("ui.primary_color", &self.ui.primary_color), ("ui.background_color", &self.ui.background_color)]
        {
            let ok = color.len() == 7 && color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return err(key, "must be a colour like #1f5fbf");
            }
        }
        if self.ui.product_name.trim().is_empty() || self.ui.product_name.len() > 100 {
            return err("ui.product_name", "must be 1 to 100 characters");
        }
        if let Some(logo) = &self.ui.logo_uri
            && !(logo.starts_with("https://") || (logo.starts_with('/') && !logo.starts_with("//")))
        {
            return err("ui.logo_uri", "must be an https URL or a path on this server");
        }
        for (i, c) in self.provision.clients.iter().enumerate() {
            if let Err(m) = crate::validate::validate_client_id(&c.id) {
                return err(&format!("provision.clients[{i}].id"), &m);
            }
            if c.secret.is_some() && c.secret_hash.is_some() {
                return err(&format!("provision.clients[{i}]"), "set secret or secret_hash, not both");
            }
        }
        for (i, u) in self.provision.users.iter().enumerate() {
            if u.password.is_some() && u.password_hash.is_some() {
                return err(&format!("provision.users[{i}]"), "set password or password_hash, not both");
            }
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

/// Formats a figment error as one line that names the key and the source.
fn figment_error(e: figment::Error) -> String {
    let mut parts = Vec::new();
    for e in e {
        let key = e.path.join(".");
        let kind = e.kind.to_string();
        let source = e.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_default();
        let what = if key.is_empty() { String::new() } else { format!("key `{key}`: ") };
        let from = if source.is_empty() { String::new() } else { format!(" (from {source})") };
        parts.push(format!("{what}{kind}{from}"));
    }
    format!("invalid configuration: {}", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(toml: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.toml");
        std::fs::write(&p, toml).unwrap();
        Config::load(Some(&p))
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.database_url(), "sqlite://data/keycard.db");
        assert!(!c.insecure_issuer());
    }

    #[test]
    fn unknown_key_is_named() {
        let e = load_str("[http]\nlisten = \"127.0.0.1:1\"\nlistne = 3\n").unwrap_err();
        assert!(e.0.contains("listne"), "{e}");
    }

    #[test]
    fn bad_value_is_named() {
        let e = load_str("[http]\nbody_limit_bytes = \"lots\"\n").unwrap_err();
        assert!(e.0.contains("http.body_limit_bytes"), "{e}");
        let e = load_str("issuer = \"ftp://x\"\n").unwrap_err();
        assert!(e.0.contains("`issuer`"), "{e}");
        let e = load_str("[keys]\naccess_token_alg = \"HS256\"\n").unwrap_err();
        assert!(e.0.contains("keys.access_token_alg"), "{e}");
        let e = load_str("[http]\ntrusted_proxies = [\"10.0.0.1/8\"]\n").unwrap_err();
        assert!(e.0.contains("http.trusted_proxies") && e.0.contains("10.0.0.0/8"), "{e}");
        let e = load_str("[login]\nclient_max_failures = 0\n").unwrap_err();
        assert!(e.0.contains("login.client_max_failures"), "{e}");
        assert_eq!(
            load_str("[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n").unwrap().http.trusted_proxies.len(),
            2
        );
    }

    #[test]
    fn missing_file_is_an_error() {
        assert!(Config::load(Some(Path::new("/nonexistent/keycard.toml"))).is_err());
    }

    #[test]
    fn example_config_parses_and_documents_every_key() {
        let text = include_str!("../../../keycard.example.toml");
        // Every line is commented out in the example; uncomment the assignments and parse them.
        let uncommented: String = text
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|l| (l.contains(" = ") || l.starts_with('[')) && !l.starts_with("provision_file"))
                    .unwrap_or("")
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = load_str(&uncommented).unwrap();
        c.validate().unwrap();
        let dumped = toml_keys(&serde_json::to_value(Config::default()).unwrap(), "");
        for key in dumped {
            let leaf = key.rsplit('.').next().unwrap();
            assert!(text.contains(&format!("{leaf} =")), "keycard.example.toml lacks `{key}`");
        }
    }

    fn toml_keys(v: &serde_json::Value, prefix: &str) -> Vec<String> {
        match v {
            serde_json::Value::Object(m) => m
                .iter()
                .filter(|(k, _)| k.as_str() != "provision")
                .flat_map(|(k, v)| {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    match v {
                        serde_json::Value::Object(_) => toml_keys(v, &p),
                        _ => vec![p],
                    }
                })
                .collect(),
            _ => vec![],
        }
    }

    #[test]
    fn retention_shorter_than_the_login_window_is_an_error() {
        // SECURITY G9: purging throttle rows before their window ends would reset the counters.
        let e = load_str("[cleanup]\nretention_secs = 899\n").unwrap_err();
        assert!(e.0.contains("cleanup.retention_secs") && e.0.contains("login.window_secs"), "{e}");
        let e = load_str("[login]\nwindow_secs = 7200\n").unwrap_err();
        assert!(e.0.contains("cleanup.retention_secs"), "{e}");
        load_str("[cleanup]\nretention_secs = 900\n").unwrap();
        load_str("[login]\nwindow_secs = 60\n[cleanup]\nretention_secs = 60\n").unwrap();
    }

    #[test]
    fn plain_http_issuer_off_loopback_needs_the_development_switch() {
        for issuer in ["http://auth.example", "http://10.0.0.5:8080", "http://[2001:db8::1]"] {
            let e = load_str(&format!("issuer = \"{issuer}\"\n")).unwrap_err();
            assert!(e.0.contains("`issuer`") && e.0.contains("insecure_http"), "{issuer}: {e}");
            let c = load_str(&format!("issuer = \"{issuer}\"\ninsecure_http = true\n")).unwrap();
            assert!(c.insecure_http && c.insecure_issuer(), "{issuer}");
        }
        for issuer in ["http://127.0.0.1:8080", "http://127.8.9.10", "http://[::1]:9000", "http://localhost:8080"] {
            let c = load_str(&format!("issuer = \"{issuer}\"\n")).unwrap();
            assert!(!c.insecure_issuer(), "{issuer}");
        }
        load_str("issuer = \"https://auth.example\"\n").unwrap();
    }

    #[test]
    fn dump_redacts_the_database_password() {
        let c = Config {
            database: DatabaseConfig {
                url: Some("postgres://kc:hunter2-secret@db.internal:5432/kc".into()),
                ..DatabaseConfig::default()
            },
            ..Config::default()
        };
        let mut c = c;
        c.provision.users.push(ProvisionUser {
            username: "alice".into(),
            email: None,
            name: None,
            password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
            password: Some(Secret("dev-only-password".into())),
            disabled: false,
        });
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["database"]["url"], "postgres://kc:***@db.internal:5432/kc");
        let user = &v["provision"]["users"][0];
        assert_eq!((&user["password_hash"], &user["password"]), (&"<redacted>".into(), &"<redacted>".into()));
        assert!(!format!("{c:?}").contains("hunter2"), "Debug redacts it too");
        assert_eq!(c.database_url(), "postgres://kc:hunter2-secret@db.internal:5432/kc", "the real URL connects");
    }

    #[test]
    fn insecure_issuer_detected() {
        let c = Config { issuer: "http://auth.example".into(), ..Config::default() };
        assert!(c.insecure_issuer());
        let c = Config { issuer: "https://auth.example".into(), ..Config::default() };
        assert!(!c.insecure_issuer());
    }
}
