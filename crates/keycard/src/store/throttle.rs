//! Throttling: attempts counted atomically per key (sign-in, client secrets, device user codes,
//! device authorizations) before the secret is checked, locks with an honest `Retry-After`. One
//! counter, one set of rules for every lockout (SECURITY D2, G9, H3).

use super::{Store, StoreResult};
use crate::clock::UnixTime;
use sqlx::Row;

/// Result of reserving a login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Attempts in the current window, this one included.
    pub attempts: i64,
    /// The key is locked until then.
    pub locked_until: Option<UnixTime>,
}

impl Store {
    // ── login throttling ────────────────────────────────────────────────────────────────────

    /// Counts one attempt against `key` in one atomic statement (shared by every node) and
    /// returns the count, this attempt included, and the lock in force, if any:
    ///
    /// - a key with no lock whose window (`window` seconds) is over starts a fresh count;
    /// - a lock that ended within the last window is over: the count restarts AT `limit`, so
    ///   one attempt is let through and the next failure locks for the base time again instead
    ///   of doubling on from where the old lock left off — and instead of granting a whole new
    ///   budget when the lock outlasted the window;
    /// - a lock that ended more than a window ago is forgotten (a fresh count), which is also
    ///   what the cleanup's purge of such a row does (`cleanup.retention_secs` ≥
    ///   `login.window_secs`), so purging never changes an answer;
    /// - otherwise the count goes up by one, a live lock stays in force.
    pub async fn count_login_attempt(&self, key: &str, now: UnixTime, window: i64, limit: i64) -> StoreResult<Attempt> {
        let r = sqlx::query(
            "INSERT INTO login_throttle (key, attempts, window_start, locked_until) VALUES ($1, 1, $2, NULL) \
             ON CONFLICT (key) DO UPDATE SET \
             attempts = CASE \
               WHEN (login_throttle.locked_until IS NULL AND login_throttle.window_start < $3) \
                 OR login_throttle.locked_until < $3 THEN 1 \
               WHEN login_throttle.locked_until <= $2 THEN $4 \
               ELSE login_throttle.attempts + 1 END, \
             window_start = CASE \
               WHEN (login_throttle.locked_until IS NULL AND login_throttle.window_start < $3) \
                 OR login_throttle.locked_until <= $2 THEN $2 \
               ELSE login_throttle.window_start END, \
             locked_until = CASE WHEN login_throttle.locked_until <= $2 THEN NULL ELSE login_throttle.locked_until END \
             RETURNING attempts, locked_until",
        )
        .bind(key)
        .bind(now)
        .bind(now - window)
        .bind(limit)
        .fetch_one(self.writer()?)
        .await?;
        Ok(Attempt { attempts: r.try_get("attempts")?, locked_until: r.try_get("locked_until")? })
    }

    /// Locks `key` until `until`.
    pub async fn lock_login(&self, key: &str, until: UnixTime) -> StoreResult<()> {
        sqlx::query("UPDATE login_throttle SET locked_until = $2 WHERE key = $1")
            .bind(key)
            .bind(until)
            .execute(self.writer()?)
            .await?;
        Ok(())
    }

    /// Takes one attempt back (a successful sign-in from this address), so the per-IP counter
    /// counts failures and a busy NAT is not locked out by its own users.
    pub async fn release_login_attempt(&self, key: &str) -> StoreResult<()> {
        sqlx::query("UPDATE login_throttle SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0")
            .bind(key)
            .execute(self.writer()?)
            .await?;
        Ok(())
    }

    /// Forgets the attempts of `key` (after a successful login).
    pub async fn reset_login(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute(self.writer()?).await?;
        Ok(())
    }
}
