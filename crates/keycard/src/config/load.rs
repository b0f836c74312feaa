//! Loading: defaults → a TOML file (`--config`, else `keycard.toml` when present) →
//! `KEYCARD_*` environment variables (`__` between nested keys), then the provisioning file,
//! then [`Config::validate`]. Errors are one line naming the key and where it came from.
//! A new top-level key must also be listed in `TOP_LEVEL_KEYS` (the environment filter).

use super::{Config, ConfigError, DEFAULT_CONFIG_FILE, Provision};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use std::path::Path;

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
    "mail",
    "provision_file",
];

impl Config {
    /// Loads the configuration: defaults, then `file` (or `keycard.toml` when present), then the
    /// environment; then validates it.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let toml = match file {
            Some(f) => {
                if !f.exists() {
                    return Err(ConfigError(format!("config file {} does not exist", f.display())));
                }
                Some(Toml::file_exact(f))
            }
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => Some(Toml::file_exact(DEFAULT_CONFIG_FILE)),
            None => None,
        };
        Self::load_from(toml, file.and_then(Path::parent))
    }

    /// [`Config::load`] of TOML text instead of a file, with the same defaults, environment,
    /// provisioning file (a relative `provision_file` is taken from the working directory) and
    /// validation. For tests and the config fuzz target (`fuzz/fuzz_targets/config.rs`), which
    /// need no file per document.
    pub fn load_toml(toml: &str) -> Result<Config, ConfigError> {
        Self::load_from(Some(Toml::string(toml)), None)
    }

    /// Defaults → `toml` → environment → provisioning file (relative to `dir`) → validation.
    fn load_from(toml: Option<figment::providers::Data<Toml>>, dir: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(toml) = toml {
            fig = fig.merge(toml);
        }
        // Only variables that name a config key: KEYCARD_CONFIG and the test harness's
        // KEYCARD_TEST_* share the prefix but are not config keys.
        fig = fig.merge(Env::prefixed("KEYCARD_").split("__").filter(|k| {
            let top = k.as_str().split('.').next().unwrap_or("");
            TOP_LEVEL_KEYS.iter().any(|t| t.eq_ignore_ascii_case(top))
        }));
        let mut config: Config = fig.extract().map_err(|e| ConfigError(figment_error(e)))?;
        if let Some(pf) = config.provision_file.clone() {
            let path = match dir {
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
}

/// Formats a figment error as one line that names the key and the source.
fn figment_error(e: figment::Error) -> String {
    let mut parts = Vec::new();
    for e in e {
        let key = e.path.join(".");
        let kind = one_line(&e.kind.to_string());
        let source = e.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_default();
        let what = if key.is_empty() { String::new() } else { format!("key `{key}`: ") };
        let from = if source.is_empty() { String::new() } else { format!(" (from {source})") };
        parts.push(format!("{what}{kind}{from}"));
    }
    format!("invalid configuration: {}", parts.join("; "))
}

/// A message on one line. The TOML parser's messages quote the source with a caret under the
/// error, over several lines (`line`, ` |`, `1 | [`, ` | ^`, the reason): keep the first line and
/// the reason, drop the quoted source, and join what is left with ": ".
fn one_line(message: &str) -> String {
    let quoted =
        |l: &str| l.trim_start().trim_start_matches(|c: char| c.is_ascii_digit()).trim_start().starts_with('|');
    let kept: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).filter(|l| !quoted(l)).collect();
    kept.join(": ").replace(['\r', '\n'], " ")
}
