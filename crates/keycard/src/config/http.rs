//! `[http]`: the listener — address, request limits and timeouts, trusted reverse proxies.
//! A new listener setting: add the field with its doc comment and default here, the key to
//! `keycard.example.toml`, and its check to [`HttpConfig::validate`].

use super::{ConfigError, invalid};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// Smallest accepted `http.max_header_bytes`: below it ordinary browser requests (cookies,
/// user agent, accept headers) would be refused.
pub const MIN_HEADER_BYTES: usize = 4 * 1024;

/// Largest accepted `http.max_header_bytes` (256 KiB): the HTTP parser's read buffer is sized
/// from it, so it is bounded.
pub const MAX_HEADER_BYTES: usize = 256 * 1024;

/// HTTP listener settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Largest accepted request body in bytes (larger → 413). A `Content-Length` over it is
    /// answered at once, before any of the body is read.
    pub body_limit_bytes: usize,
    /// Largest total size of the request header fields in bytes, each field line counted as
    /// sent (`name: value` and its CRLF, i.e. name + value + 4); larger → 431 (RFC 6585 §5).
    /// The request line has its own limit (8 KiB, 414). Between [`MIN_HEADER_BYTES`] and
    /// [`MAX_HEADER_BYTES`].
    pub max_header_bytes: usize,
    /// Time allowed for a whole request, in seconds (longer → 408).
    pub request_timeout_secs: u64,
    /// Time allowed to receive the request headers, in seconds (slowloris defence).
    pub header_read_timeout_secs: u64,
    /// Most concurrent connections; further ones wait in the accept queue.
    pub max_connections: usize,
    /// Seconds to let in-flight requests finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// On SIGTERM, seconds to keep serving normally with `/readyz` answering 503 before the
    /// listener closes, so that a load balancer that checks readiness stops sending requests
    /// first (a rolling restart without a failed request). 0: close at once. A second signal
    /// ends the wait.
    pub shutdown_delay_secs: u64,
    /// Reverse proxies (IP addresses or CIDR blocks) whose `X-Forwarded-For` is believed; from
    /// any other peer the header is ignored. Empty by default.
    pub trusted_proxies: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            max_connections: 10_000,
            shutdown_grace_secs: 10,
            shutdown_delay_secs: 0,
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
        if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES).contains(&self.max_header_bytes) {
            return invalid(
                "http.max_header_bytes",
                &format!("must be between {MIN_HEADER_BYTES} and {MAX_HEADER_BYTES}"),
            );
        }
        if self.request_timeout_secs == 0 || self.header_read_timeout_secs == 0 {
            return invalid("http.request_timeout_secs", "timeouts must be at least 1 second");
        }
        if self.shutdown_delay_secs > 300 {
            return invalid("http.shutdown_delay_secs", "must be at most 300 seconds");
        }
        Ok(())
    }
}
