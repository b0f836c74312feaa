//! `[database]`: the database URL and pool. The URL may hold a password, so `Debug` and
//! `Serialize` (what `keycard config dump` prints) show it through [`redact_url`].
//! A new database setting: add the field here (and to the `Debug` impl), the key to
//! `keycard.example.toml`, and its check to [`DatabaseConfig::validate`].

use super::{ConfigError, invalid};
use serde::{Deserialize, Serialize};
use std::fmt;

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
    /// How often (milliseconds) each node probes the database on a connection of its own.
    /// Two failed probes in a row turn readiness off and make requests that need the database
    /// fail at once with 503; one good probe turns it back on (docs/reliability.md §3).
    pub health_interval_ms: u64,
    /// SQLite only: when a commit is on disk. `normal` (default): a committed write survives the
    /// process being killed, and the last commits before a power loss or OS crash may be lost
    /// (the database stays consistent). `full`: each commit is synced to disk before it is
    /// acknowledged, so it survives a power loss too; group commit (docs/reliability.md §8)
    /// shares one sync among the concurrent writes of a node.
    pub sqlite_synchronous: SqliteSynchronous,
}

/// `database.sqlite_synchronous` (SQLite's `PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// Durable against a process crash.
    #[default]
    Normal,
    /// Durable against a power loss.
    Full,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .field("startup_retry_secs", &self.startup_retry_secs)
            .field("health_interval_ms", &self.health_interval_ms)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .finish()
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
            acquire_timeout_secs: 5,
            startup_retry_secs: 10,
            health_interval_ms: 500,
            sqlite_synchronous: SqliteSynchronous::Normal,
        }
    }
}

fn serialize_redacted_url<S: serde::Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    url.as_deref().map(redact_url).serialize(s)
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

impl DatabaseConfig {
    /// Checks the `database.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return invalid("database.url", "must start with sqlite:// or postgres://");
        }
        if self.max_connections == 0 {
            return invalid("database.max_connections", "must be at least 1");
        }
        if !(50..=60_000).contains(&self.health_interval_ms) {
            return invalid("database.health_interval_ms", "must be between 50 and 60000");
        }
        Ok(())
    }
}
