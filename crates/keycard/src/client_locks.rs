//! The (client, address) locks this node knows of, kept in memory so a locked pair is answered
//! 429 before any secret is checked. The counting and the lock decision live in
//! `oauth::client_throttle` (SECURITY D2); this is only the per-node memory of its results.

use crate::clock::UnixTime;
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

    pub fn remember(&self, key: String, until: UnixTime, now: UnixTime) {
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
pub fn key(client_id: &str, ip: &str) -> String {
    format!("c:{client_id}|ip:{ip}")
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
