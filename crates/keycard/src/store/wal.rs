//! SQLite's write-ahead log, checkpointed off the write path (<https://sqlite.org/wal.html>).
//!
//! By default SQLite checkpoints inside the commit that pushes the WAL past 1,000 pages: that
//! commit, on the one writer connection every write of the node queues for, also copies the log
//! into the database file and syncs it, and every request queued behind it waits (a p99 spike
//! every few thousand opaque tokens). Keycard's connections raise that threshold to
//! [`AUTOCHECKPOINT_PAGES`] (a safety net only) and a background task of `keycard serve` runs
//! [`Store::checkpoint_wal`] every [`CHECKPOINT_INTERVAL`]: a PASSIVE checkpoint on a read
//! connection, which never takes the write lock, so writers go on while the log is copied. The
//! log restarts from its beginning at the next write after a checkpoint that copied everything;
//! under a steady stream of writes that moment may not come before the in-commit threshold, which
//! then bounds the log (40 MB). A RESTART checkpoint past a smaller threshold was tried and
//! dropped: it holds the write lock while it waits for readers, and the writes queued behind it
//! showed it (bench/run.sh --opaque, docs/reliability.md §8).
//! PostgreSQL manages its own WAL: there the call does nothing.

use super::{Backend, Store, StoreResult};
use sqlx::Row;
use std::time::Duration;

/// The in-commit checkpoint threshold (pages of 4 KiB): reached only when the background
/// checkpoints fall behind (or in a process without them, such as a long CLI command).
pub const AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// How often `keycard serve` checkpoints the WAL.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);

/// What one checkpoint saw: frames in the log and frames copied into the database so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Frames in the WAL.
    pub log_frames: i64,
    /// Frames copied into the database file (equal to `log_frames` when complete).
    pub checkpointed: i64,
}

impl Store {
    /// One PASSIVE WAL checkpoint on a read connection (SQLite); `None` on PostgreSQL.
    pub async fn checkpoint_wal(&self) -> StoreResult<Option<Checkpoint>> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(self.reader()?).await?;
        Ok(Some(Checkpoint { log_frames: row.try_get(1)?, checkpointed: row.try_get(2)? }))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::conformance::TestDb;
    use crate::store::{Store, StoreOptions};

    #[tokio::test]
    async fn every_connection_syncs_as_configured() {
        let db = TestDb::sqlite();
        for (full, want) in [(false, 1), (true, 2)] {
            let s =
                Store::connect(&db.url, &StoreOptions { sqlite_full_sync: full, ..Default::default() }).await.unwrap();
            for pool in [&s.pool, &s.read] {
                let v: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.unwrap();
                assert_eq!(v, want, "full = {full}");
            }
            s.close().await;
        }
    }

    #[tokio::test]
    async fn a_passive_checkpoint_copies_the_log_and_the_next_write_restarts_it() {
        let db = TestDb::sqlite();
        let s = db.store().await;
        for i in 0..50 {
            s.consume_once("wal", &format!("v{i}"), 100, 10).await.unwrap();
        }
        let c = s.checkpoint_wal().await.unwrap().expect("sqlite");
        assert!(c.log_frames > 0, "{c:?}: the writes are in the log, not yet in the file");
        assert_eq!(c.checkpointed, c.log_frames, "{c:?}: nothing else reading, so all copied");
        // The next write restarts the log from its beginning.
        s.consume_once("wal", "after", 100, 10).await.unwrap();
        let after = s.checkpoint_wal().await.unwrap().unwrap();
        assert!(after.log_frames < c.log_frames, "{after:?} after {c:?}");
    }
}
