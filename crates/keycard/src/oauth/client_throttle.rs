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
use crate::clock::UnixTime;
use crate::state::AppState;
use crate::store::StoreError;

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
    let key = crate::client_locks::key(client_id, ip);
    let limit = state.config.login.client_max_failures;
    let a = state.store.count_login_attempt(&key, now, state.config.login.window_secs, limit).await?;
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
