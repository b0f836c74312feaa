//! Is the database usable right now? Every node answers from its own probe, so that `/readyz`
//! never waits for the database and requests fail fast while it is gone (docs/reliability.md §3).
//!
//! [`Store::probe_health`] runs one probe on a connection of its own (never one of the pool's, so
//! a saturated pool is not mistaken for an outage): on PostgreSQL `SELECT pg_is_in_recovery()`
//! (a standby left behind by a failover is read-only, hence not usable), on SQLite a one-row write
//! in a transaction (a full disk, a read-only file or a write lock held too long by another
//! process all fail it, while reads would still pass). [`FAILURES_TO_GO_DOWN`] failures in a row
//! mark the database down; one success marks it up again. The background task of every node
//! (`app::spawn_background`) probes every `database.health_interval_ms`.
//!
//! While the database is down, [`Store`] operations that need it fail at once with
//! [`StoreError::Unavailable`] instead of waiting for a pooled connection, and `/readyz` answers
//! 503; requests that need no database (a JWT access token for a cached client) keep working.
//!
//! Extending: a new kind of outage is a new failure of the probe (keep it one cheap statement);
//! a new signal of health belongs in [`Health`], read by `/readyz` through [`Store::health`].

use super::{Backend, Store, StoreError, StoreResult};
use sqlx::Connection as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Failed probes in a row before the database counts as down: one lost probe is noise.
pub const FAILURES_TO_GO_DOWN: u32 = 2;

/// How long one probe may take (connecting included) before it counts as failed.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// What this node knows about its database.
#[derive(Debug, Default)]
pub struct Health {
    down: AtomicBool,
    failures: AtomicU32,
    /// Probes run (the SQLite probe writes it).
    probes: std::sync::atomic::AtomicU64,
    /// The probe's own connection, kept between probes; dropped after a failure.
    conn: tokio::sync::Mutex<Option<sqlx::AnyConnection>>,
    /// Why the last probe failed (for the log and `/readyz`), without any secret.
    last_error: Mutex<Option<String>>,
}

/// A change of the database's health seen by one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthChange {
    /// Nothing changed.
    Same,
    /// The database stopped answering (or writing): the reason.
    WentDown(String),
    /// The database answers again.
    CameBack,
}

impl Health {
    /// Is the database usable (as of the last probe)?
    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    /// Why the last probe failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, result: Result<(), String>) -> HealthChange {
        match result {
            Ok(()) => {
                self.failures.store(0, Ordering::Relaxed);
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                if self.down.swap(false, Ordering::Relaxed) { HealthChange::CameBack } else { HealthChange::Same }
            }
            Err(e) => {
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
                let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= FAILURES_TO_GO_DOWN && !self.down.swap(true, Ordering::Relaxed) {
                    HealthChange::WentDown(e)
                } else {
                    HealthChange::Same
                }
            }
        }
    }
}

/// One connection to `url` and back, for start-up to wait for a PostgreSQL server that is not
/// up yet with the real reason of each failure (the pool would only say it timed out).
pub async fn try_reach(url: &str) -> Result<(), sqlx::Error> {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await?.close().await
}

impl Store {
    /// This node's view of the database's health.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Fails at once with `Unavailable` while the probe says the database is down, so that a
    /// request does not wait `database.acquire_timeout_secs` for a connection that cannot come.
    /// On SQLite only writes are refused: reads of a full or locked database still work.
    pub(super) fn check_up(&self, write: bool) -> StoreResult<()> {
        if self.health.is_up() || (!write && self.backend == Backend::Sqlite) {
            Ok(())
        } else {
            Err(StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(
                "the health probe found the database down; not waiting for a connection",
            ))))
        }
    }

    /// Runs one probe and records it; returns the change it made, for the caller to log.
    pub async fn probe_health(&self) -> HealthChange {
        let result = match tokio::time::timeout(PROBE_TIMEOUT, self.probe_once()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("the database did not answer within {} ms", PROBE_TIMEOUT.as_millis())),
        };
        if result.is_err() {
            // A connection that failed (or was cut off mid-probe) is not trusted again.
            *self.health.conn.lock().await = None;
        }
        self.health.record(result)
    }

    async fn probe_once(&self) -> Result<(), sqlx::Error> {
        if self.pool.is_closed() {
            return Err(sqlx::Error::PoolClosed);
        }
        let mut guard = self.health.conn.lock().await;
        if guard.is_none() {
            let mut conn = sqlx::AnyConnection::connect(self.url.expose()).await?;
            if self.backend == Backend::Sqlite {
                // Wait for another writer at most this long: a lock held longer is an outage.
                sqlx::raw_sql("PRAGMA busy_timeout=1000").execute(&mut conn).await?;
            }
            *guard = Some(conn);
        }
        let conn = guard.as_mut().expect("connected above");
        match self.backend {
            Backend::Postgres => {
                let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(&mut *conn).await?;
                if in_recovery {
                    return Err(sqlx::Error::Protocol("the database is a read-only standby".into()));
                }
            }
            Backend::Sqlite => {
                // A value that changes every time: SQLite writes nothing for an unchanged row,
                // and a probe that writes nothing cannot find a full disk.
                let n = self.health.probes.fetch_add(1, Ordering::Relaxed).to_string();
                sqlx::query(
                    "INSERT INTO meta (key, value) VALUES ('health:probe', $1) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(n)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_failures_in_a_row_go_down_one_success_comes_back() {
        let h = Health::default();
        assert!(h.is_up());
        assert_eq!(h.record(Err("refused".into())), HealthChange::Same, "one lost probe is noise");
        assert!(h.is_up());
        assert_eq!(h.record(Ok(())), HealthChange::Same);
        assert_eq!(h.record(Err("refused".into())), HealthChange::Same, "the count starts again after a success");
        assert_eq!(h.record(Err("refused".into())), HealthChange::WentDown("refused".into()));
        assert!(!h.is_up());
        assert_eq!(h.last_error().as_deref(), Some("refused"));
        assert_eq!(h.record(Err("refused".into())), HealthChange::Same, "reported once");
        assert_eq!(h.record(Ok(())), HealthChange::CameBack);
        assert!(h.is_up());
        assert_eq!(h.last_error(), None);
    }

    #[tokio::test]
    async fn a_healthy_database_passes_the_probe_on_both_backends() {
        crate::store::conformance::on_both(|s| async move {
            for _ in 0..3 {
                assert_eq!(s.probe_health().await, HealthChange::Same);
            }
            assert!(s.health().is_up(), "{:?}", s.health().last_error());
            assert!(s.check_up(true).is_ok());
        })
        .await;
    }
}
