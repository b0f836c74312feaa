//! Password sign-in (RFC 6819 §4.4.3.6, §5.1.4.2.3–5, OAuth 2.1 §7.7; SECURITY G8/G9).
//!
//! - Every attempt is counted BEFORE the password is checked, per account and per client IP, in
//!   one atomic statement, so parallel guesses on many nodes cannot slip under the threshold.
//!   Past the threshold the key is locked; the lock doubles with each further attempt (max 1 h).
//!   When a lock ends, one attempt is let through and the next failure locks for the base time
//!   again (`Store::count_login_attempt`).
//! - The account counter is keyed by the account the login names (its user id), so username and
//!   e-mail, in any letter case, share one counter; a login that names nobody is counted by its
//!   folded form, so unknown names are throttled exactly like real ones (G8). The lookup runs
//!   for every attempt, known or not, before any counting or hashing.
//! - Unknown users, wrong passwords and disabled users get the same answer and cost the same
//!   time: an unknown user is checked against a dummy hash.
//! - argon2id runs on the password hashing threads (`crate::password`) behind a bounded queue: a
//!   sign-in first takes a place in it, and when there is none it is refused at once
//!   ([`LoginError::Overloaded`], 503 with `Retry-After`) before it costs a database write or
//!   counts as an attempt. Hashes with outdated parameters are upgraded at the next successful
//!   sign-in when the queue has room.
//!
//! The same function serves every password-consuming path (login page, device verification,
//! the legacy password grant), so they share one counter.

use crate::clock::UnixTime;
use crate::model::User;
use crate::state::AppState;
use crate::store::{StoreError, fold_login};

/// Why a sign-in failed.
#[derive(Debug)]
pub enum LoginError {
    /// Unknown user, wrong password or disabled user: one answer for all (G8).
    Invalid,
    /// Too many attempts: try again after this many seconds.
    Locked {
        /// Seconds until the lock ends.
        retry_after: i64,
    },
    /// Too many sign-ins at once: the hashing queue is full; try again after this many seconds.
    Overloaded {
        /// Seconds before a retry.
        retry_after: i64,
    },
    /// The database failed.
    Store(StoreError),
    /// Hashing failed unexpectedly.
    Internal(String),
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        LoginError::Store(e)
    }
}

pub(crate) fn lock_for(state: &AppState, excess: i64) -> i64 {
    let base = state.config.login.lockout_secs;
    let shift = excess.clamp(0, 12) as u32;
    (base.saturating_mul(1_i64 << shift)).min(3600)
}

/// Checks a throttle key; returns Err(Locked) when over its limit (and extends the lock).
async fn check_key(state: &AppState, key: &str, limit: i64, now: UnixTime) -> Result<(), LoginError> {
    let a = state.store.count_login_attempt(key, now, state.config.login.window_secs, limit).await?;
    if let Some(until) = a.locked_until
        && until > now
    {
        let until = now + lock_for(state, a.attempts - limit - 1);
        state.store.lock_login(key, until).await?;
        return Err(LoginError::Locked { retry_after: until - now });
    }
    if a.attempts > limit {
        let until = now + lock_for(state, a.attempts - limit - 1);
        state.store.lock_login(key, until).await?;
        return Err(LoginError::Locked { retry_after: until - now });
    }
    Ok(())
}

/// Signs a user in by username or e-mail and password, from client address `ip`.
pub async fn password_login(state: &AppState, login: &str, password: &str, ip: &str) -> Result<User, LoginError> {
    let now = state.clock.now();
    // A place in the hashing queue first: a sign-in that cannot be served costs nothing else. Its
    // answer waits `login.overload_pause_ms` (a timer, no CPU), so a flood that retries at once
    // sends fewer requests.
    let ticket = match state.hashing.reserve() {
        Ok(t) => t,
        Err(o) => {
            tokio::time::sleep(std::time::Duration::from_millis(state.config.login.overload_pause_ms)).await;
            return Err(LoginError::Overloaded { retry_after: o.retry_after });
        }
    };
    // Resolve first (the same statements for known and unknown logins), count second, verify last.
    let user = if login.is_empty() || login.len() > 256 { None } else { state.store.find_login_user(login).await? };
    let login_key = match &user {
        Some(u) => format!("uid:{}", u.id),
        None => format!("u:{}", fold_login(login)),
    };
    let ip_key = format!("ip:{ip}");
    check_key(state, &ip_key, state.config.login.ip_max_attempts, now).await?;
    check_key(state, &login_key, state.config.login.max_attempts, now).await?;
    let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let (ok, upgrade) = ticket.verify(password, hash).await;
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => return Err(LoginError::Invalid),
    };
    state.store.reset_login(&login_key).await?;
    state.store.release_login_attempt(&ip_key).await?;
    if upgrade && let Ok(ticket) = state.hashing.reserve() {
        match ticket.hash(password).await {
            Ok(h) => {
                let mut u = user.clone();
                u.password_hash = Some(h);
                u.updated_at = now;
                if let Err(e) = state.store.update_user(&u).await {
                    tracing::warn!(error = %e, "password hash upgrade failed");
                } else {
                    tracing::info!(user_id = %u.id, "upgraded password hash parameters");
                }
            }
            Err(e) => tracing::warn!(error = %e, "password hash upgrade failed"),
        }
    }
    Ok(user)
}
