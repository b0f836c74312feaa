//! Brute force of client secrets (OAuth 2.1 §2.4.1: endpoints that use client secrets MUST be
//! protected against brute force; RFC 6819 §5.1.4.2.3; SECURITY D2).
//!
//! Wrong secrets are counted per (client, client IP address) in the database, the same atomic
//! counter that throttles sign-ins, so every node sees the same count. Past
//! `login.client_max_failures` within `login.window_secs` that pair is locked for
//! `login.lockout_secs`, doubling with every further failure while locked (at most an hour):
//! every request from that address for that client is answered 429 with `Retry-After`, even one
//! with the right secret, so guessing on during the lock learns nothing. The same client from
//! any other address is not affected (a throttle on the client alone would let anyone lock a
//! client out).
//!
//! Only clients that exist are counted (random ids would only fill the table), so a 429 tells
//! that a client id exists; client ids are not secrets in OAuth (every authorization URL shows
//! one).
//!
//! Only failures touch the database: a correct secret costs no write, so the token endpoint's
//! throughput is unchanged. Locks are also remembered in memory on the node that saw them, which
//! answers 429 before checking any secret; another node learns of the lock at the first failure
//! it sees from that pair. Since failures are counted after the (cheap) check, up to one guess
//! per node and per concurrent request can slip past the limit; with 256-bit generated secrets
//! that is immaterial, and it keeps correct requests free of any write.

use super::OAuthError;
use crate::app::AppState;
use crate::clock::UnixTime;
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Most locks remembered in memory per node; expired ones are dropped first when full.
const MAX_REMEMBERED: usize = 10_000;

/// The locks this node knows of: throttle key → locked until.
#[derive(Debug, Default)]
pub struct ClientLocks {
    /// Has this node ever seen a lock? Until then the token hot path takes no mutex at all.
    any: AtomicBool,
    map: Mutex<HashMap<String, UnixTime>>,
}

impl ClientLocks {
    /// Seconds left on the lock of `client_id` from `ip` at `now`, if it is locked. No mutex is
    /// taken and no key built while no lock is known (the usual case, on every token request).
    pub fn retry_after(&self, client_id: &str, ip: &str, now: UnixTime) -> Option<i64> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.is_empty() {
            return None;
        }
        map.get(&key(client_id, ip)).filter(|&&until| until > now).map(|&until| until - now)
    }

    fn remember(&self, key: String, until: UnixTime, now: UnixTime) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_REMEMBERED {
            map.retain(|_, until| *until > now);
            if map.len() >= MAX_REMEMBERED {
                // Still full of live locks: the database keeps them; this node relearns each one
                // at its next failure.
                map.clear();
            }
        }
        map.insert(key, until);
        self.any.store(true, Ordering::Relaxed);
    }
}

/// The throttle key of `client_id` authenticating from `ip`.
fn key(client_id: &str, ip: &str) -> String {
    format!("c:{client_id}|ip:{ip}")
}

/// The answer to a request from a locked (client, address) pair: 429 with `Retry-After`.
pub fn locked(retry_after: i64) -> OAuthError {
    OAuthError::invalid_client(
        "too many failed authentications of this client from this address; try again after the Retry-After delay",
    )
    .with_retry_after(retry_after.max(1))
}

/// Counts a wrong secret of `client_id` from `ip`; `Some(retry_after)` when the pair is now locked.
pub async fn record_failure(
    state: &AppState,
    client_id: &str,
    ip: &str,
    now: UnixTime,
) -> Result<Option<i64>, StoreError> {
    let key = key(client_id, ip);
    let limit = state.config.login.client_max_failures;
    let a = state.store.reserve_login_attempt(&key, now, state.config.login.window_secs, limit).await?;
    let was_locked = a.locked_until.is_some_and(|until| until > now);
    if !was_locked && a.attempts <= limit {
        return Ok(None);
    }
    let until = now + super::login::lock_for(state, a.attempts - limit - 1);
    state.store.lock_login(&key, until).await?;
    tracing::warn!(
        client_id = %client_id,
        failures = a.attempts,
        locked_for_secs = until - now,
        "client authentication locked for an address after repeated wrong secrets"
    );
    state.client_locks.remember(key, until, now);
    Ok(Some(until - now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_forgets_locks() {
        let locks = ClientLocks::default();
        assert_eq!(locks.retry_after("svc", "10.0.0.1", 100), None, "nothing known yet");
        locks.remember(key("svc", "10.0.0.1"), 160, 100);
        assert_eq!(locks.retry_after("svc", "10.0.0.1", 100), Some(60));
        assert_eq!(locks.retry_after("svc", "10.0.0.1", 160), None, "expired");
        assert_eq!(locks.retry_after("svc", "10.0.0.2", 100), None, "another address");
        assert_eq!(locks.retry_after("other", "10.0.0.1", 100), None, "another client");
        for i in 0..MAX_REMEMBERED + 5 {
            locks.remember(key("svc", &format!("ip-{i}")), 1000, 100);
        }
        assert!(locks.map.lock().unwrap().len() <= MAX_REMEMBERED, "bounded");
    }
}
