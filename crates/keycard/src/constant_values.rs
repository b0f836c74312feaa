//! Per-node memory of the PKCE challenges and OpenID Connect nonces each client sent recently,
//! for the "reasonable effort at detecting … constant PKCE challenge or OpenID Connect nonce
//! values" of RFC 9700 §2.1.1 (SECURITY B9). A client that sends the same value in more than
//! [`MAX_USES`] authorization requests within [`WINDOW_SECS`] has a broken (or attacked)
//! PKCE/nonce generator; `oauth::authorize` logs it and, when configured, refuses the request.
//!
//! What it is and is not: bounded memory on this node only ([`MAX_ENTRIES`] counters; when
//! full, expired ones go first, then everything), so with several nodes a client is counted per
//! node, and a restart forgets. That is enough to notice a constant value, which every request
//! repeats. Values are never kept: a counter is keyed by SHA-256 of (kind, client, value).
//! To watch another parameter, pass a new `kind` label from the caller.

use crate::clock::UnixTime;
use std::collections::HashMap;
use std::sync::Mutex;

/// The window in which uses are counted (seconds).
pub const WINDOW_SECS: i64 = 600;

/// Uses of one value by one client allowed within the window; the next one is reported.
pub const MAX_USES: u32 = 3;

/// Most counters kept in memory per node.
pub const MAX_ENTRIES: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Count {
    since: UnixTime,
    uses: u32,
}

/// Counters of recently seen values, keyed by a hash of (kind, client id, value).
#[derive(Debug, Default)]
pub struct ConstantValues {
    map: Mutex<HashMap<[u8; 32], Count>>,
}

fn key(kind: &str, client_id: &str, value: &str) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in [kind, client_id, value] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part.as_bytes());
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

impl ConstantValues {
    /// Records one use of `value` (a `kind` such as `"code_challenge"`) by `client_id` at `now`
    /// and returns how many uses the current window has seen, this one included. A window
    /// starts at the first use and lasts [`WINDOW_SECS`].
    pub fn record(&self, kind: &str, client_id: &str, value: &str, now: UnixTime) -> u32 {
        let k = key(kind, client_id, value);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES && !map.contains_key(&k) {
            map.retain(|_, c| now - c.since < WINDOW_SECS);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        let c = map.entry(k).or_insert(Count { since: now, uses: 0 });
        if now - c.since >= WINDOW_SECS {
            *c = Count { since: now, uses: 0 };
        }
        c.uses = c.uses.saturating_add(1);
        c.uses
    }

    /// [`record`](Self::record), answering whether the use is one too many (more than
    /// [`MAX_USES`] in the window).
    pub fn too_often(&self, kind: &str, client_id: &str, value: &str, now: UnixTime) -> bool {
        self.record(kind, client_id, value, now) > MAX_USES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b9_counts_per_kind_client_and_value_within_the_window() {
        let w = ConstantValues::default();
        for _ in 0..MAX_USES {
            assert!(!w.too_often("code_challenge", "app", "c1", 100));
        }
        assert!(w.too_often("code_challenge", "app", "c1", 100 + WINDOW_SECS - 1));
        assert!(!w.too_often("code_challenge", "other", "c1", 100), "per client");
        assert!(!w.too_often("nonce", "app", "c1", 100), "per kind");
        assert!(!w.too_often("code_challenge", "app", "c2", 100), "per value");
        // No ambiguity between the parts of the key.
        assert_ne!(key("a", "bc", "d"), key("ab", "c", "d"));
        // A new window after WINDOW_SECS.
        assert_eq!(w.record("code_challenge", "app", "c1", 100 + WINDOW_SECS), 1);
    }

    #[test]
    fn b9_memory_is_bounded() {
        let w = ConstantValues::default();
        for i in 0..MAX_ENTRIES + 10 {
            w.record("nonce", "app", &i.to_string(), 0);
        }
        assert!(w.map.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
