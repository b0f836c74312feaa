//! Running the server: `[cleanup]` (background purge of expired rows), `[cache]` (how stale a
//! node's caches may be) and `[log]`. A new operational setting: add the field and default to
//! its section here, the key to `keycard.example.toml`, and its check to that section's
//! `validate`.

use super::{ConfigError, LoginConfig, invalid};
use serde::{Deserialize, Serialize};

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

impl CleanupConfig {
    /// Checks the `cleanup.*` keys; throttle rows must outlive their counting window.
    pub(super) fn validate(&self, login: &LoginConfig) -> Result<(), ConfigError> {
        if self.interval_secs == 0 || self.retention_secs < 0 || !(1..=100_000).contains(&self.batch_size) {
            return invalid("cleanup.interval_secs", "interval must be ≥ 1 s, retention ≥ 0 s, batch_size 1..100000");
        }
        if self.retention_secs < login.window_secs {
            // Purging a throttle row before its window ends would reset the sign-in counters.
            return invalid("cleanup.retention_secs", "must be at least login.window_secs (throttle rows are purged)");
        }
        Ok(())
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

impl Default for CacheConfig {
    fn default() -> Self {
        Self { poll_interval_ms: 1000 }
    }
}

impl CacheConfig {
    /// Checks the `cache.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.poll_interval_ms < 50 {
            return invalid("cache.poll_interval_ms", "must be at least 50");
        }
        Ok(())
    }
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

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".into() }
    }
}

impl LogConfig {
    /// Checks the `log.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.level) {
            return invalid("log.level", &e.to_string());
        }
        Ok(())
    }
}
