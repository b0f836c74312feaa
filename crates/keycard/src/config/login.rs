//! `[login]`: password sign-in — the attempt counters and locks (RFC 6819 §4.4.3.6, OAuth 2.1
//! §7.7; docs/security.md G9), client-secret throttling (D2) and the argon2id parameters.
//! A new sign-in setting: add the field and default here, the key to `keycard.example.toml`,
//! and its check to [`LoginConfig::validate`].

use super::{ConfigError, invalid};
use serde::{Deserialize, Serialize};

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
    /// Password hashes computed at once, each on a thread of its own with its own argon2 memory
    /// (so this bounds the memory sign-ins use); further sign-ins queue.
    pub max_concurrent_hashes: usize,
    /// Sign-ins that may wait for a hash; past that, a sign-in is refused at once with 503 and
    /// `Retry-After` (docs/reliability.md §5), so a flood of sign-ins cannot pile up.
    pub max_queued_hashes: usize,
    /// Milliseconds a sign-in refused for a full queue waits before its 503 is sent. A client
    /// that ignores `Retry-After` and retries at once (a flood) then sends far fewer requests per
    /// connection, and the CPU it would burn on refusals stays with the token endpoint. 0: none.
    pub overload_pause_ms: u64,
    /// Nice value of the password hashing threads (0 = the same priority as request handling,
    /// 19 = the lowest). Above 0, a sign-in flood takes the CPU that requests leave idle instead
    /// of slowing the token endpoint; under a load that keeps every core busy, sign-ins then
    /// slow down first.
    pub hash_thread_nice: i32,
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
            max_queued_hashes: 32,
            overload_pause_ms: 100,
            hash_thread_nice: 10,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
        }
    }
}

impl LoginConfig {
    /// Checks the `login.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_attempts < 1 || self.ip_max_attempts < self.max_attempts {
            return invalid("login.max_attempts", "must be at least 1 and at most login.ip_max_attempts");
        }
        if self.client_max_failures < 1 {
            return invalid("login.client_max_failures", "must be at least 1");
        }
        if self.window_secs < 1 || self.lockout_secs < 1 {
            return invalid("login.window_secs", "windows and lockouts must be at least 1 second");
        }
        if !(1..=256).contains(&self.max_concurrent_hashes) {
            return invalid("login.max_concurrent_hashes", "must be between 1 and 256");
        }
        if self.max_queued_hashes > 100_000 {
            return invalid("login.max_queued_hashes", "must be at most 100000");
        }
        if !(0..=19).contains(&self.hash_thread_nice) {
            return invalid("login.hash_thread_nice", "must be between 0 and 19");
        }
        if self.overload_pause_ms > 10_000 {
            return invalid("login.overload_pause_ms", "must be at most 10000");
        }
        if argon2::Params::new(self.argon2_memory_kib, self.argon2_iterations, self.argon2_parallelism, None).is_err() {
            return invalid("login.argon2_memory_kib", "these argon2 parameters are not valid");
        }
        Ok(())
    }
}
