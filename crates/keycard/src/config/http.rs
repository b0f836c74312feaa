//! `[http]`: the listener — address, request limits and timeouts, trusted reverse proxies.
//! A new listener setting: add the field with its doc comment and default here, the key to
//! `keycard.example.toml`, and its check to [`HttpConfig::validate`].

use super::{ConfigError, invalid};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

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

impl HttpConfig {
    /// Checks the `http.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for p in &self.trusted_proxies {
            if let Err(e) = p.parse::<crate::net::Cidr>() {
                return invalid("http.trusted_proxies", &e);
            }
        }
        if self.body_limit_bytes < 1024 {
            return invalid("http.body_limit_bytes", "must be at least 1024");
        }
        if self.request_timeout_secs == 0 || self.header_read_timeout_secs == 0 {
            return invalid("http.request_timeout_secs", "timeouts must be at least 1 second");
        }
        Ok(())
    }
}
